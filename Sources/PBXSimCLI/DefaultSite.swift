/// The REPL's built-in site when no scenario file is given: the seed example's topology.
let defaultSiteYAML = """
name: default-site
description: >
  The seed example's site: PBX-1 (area 098) and PBX-2 (area 012), three carrier SIP servers, DNS,
  and two telephone companies. Nothing is broken until you break it.
seed: 1

network:
  latency: 10ms                     # one-way, every path
  hosts:
    sip1.itsp.example: 192.0.2.10
    sip2.itsp.example: 192.0.2.11
    sip3.itsp.example: 192.0.2.12
    dns.itsp.example: 192.0.2.53
    pbx1.example: 198.51.100.1
    pbx2.example: 198.51.100.2

dns:
  server: dns.itsp.example
  records:
    itsp.example:
      ttl: 300s
      srv:                          # _sip._udp.itsp.example
        - {priority: 10, weight: 60, port: 5060, target: sip1.itsp.example}
        - {priority: 10, weight: 40, port: 5060, target: sip2.itsp.example}
        - {priority: 20, weight: 0, port: 5060, target: sip3.itsp.example}

sip_servers:
  - {host: sip1.itsp.example, domain: itsp.example}
  - {host: sip2.itsp.example, domain: itsp.example}
  - {host: sip3.itsp.example, domain: itsp.example}

telephone_companies:
  - {name: TELCO-098, area_code: "098"}
  - {name: TELCO-012, area_code: "012"}

pbxs:
  - name: PBX-1
    host: pbx1.example
    telephone_company: TELCO-098
    extensions:
      - {number: "1000"}
    public_trunk: {channels: 4, numbers: ["098-765-4321"]}
    v_sipgw:
      sip_server: 192.0.2.10
      sip_server_failover: 192.0.2.11
      registrar: itsp.example
      registrar_failover: 192.0.2.11
      failover_timer_register: 4s
      invite_timeout: 4s
      numbers: ["098-765-4321"]
  - name: PBX-2
    host: pbx2.example
    telephone_company: TELCO-012
    extensions:
      - {number: "1011", answer_after: 3s}
    public_trunk: {channels: 4, numbers: ["012-345-1011"]}
    did: {"012-345-1011": "1011"}
    v_sipgw:
      sip_server: 192.0.2.10
      sip_server_failover: 192.0.2.11
      registrar: itsp.example
      numbers: ["012-345-1011"]
"""
