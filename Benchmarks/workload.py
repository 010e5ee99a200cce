"""The failover workload of the performance benchmarks (docs/performance.md), as a pbxsim scenario.

200 erlangs of Poisson traffic with 2 s mean (exponential) holds from a range of PBX-1 extensions
to 10,000 subscriber lines of TELCO-012; every SIP server is silent, so each call tries three
targets (configured, failover, DNS) for the 4 s invite timeout each, then is rerouted to a public
trunk of 2,000 channels (nothing blocks). The registration lasts the whole run (no refresh).
"""


def scenario(calls: int, callers: int, erlangs: float = 200, hold_s: float = 2.0) -> str:
    first, last = 10000, 10000 + callers - 1
    return f"""name: failover-workload-{callers}
description: >
  Benchmark workload: {erlangs:g} erlangs, {hold_s:g} s mean holds, {calls} calls from {callers}
  extensions, three silent SIP targets at 4 s each, then the public trunk.
seed: 1
network:
  latency: 10ms
  hosts:
    sip1.itsp.example: 192.0.2.10
    sip2.itsp.example: 192.0.2.11
    sip3.itsp.example: 192.0.2.12
    dns.itsp.example: 192.0.2.53
    pbx1.example: 198.51.100.1
dns:
  server: dns.itsp.example
  records:
    itsp.example:
      ttl: 86400s
      srv:
        - {{priority: 10, weight: 60, port: 5060, target: sip1.itsp.example}}
        - {{priority: 10, weight: 40, port: 5060, target: sip2.itsp.example}}
        - {{priority: 20, weight: 0, port: 5060, target: sip3.itsp.example}}
sip_servers:
  - {{host: sip1.itsp.example, domain: itsp.example}}
  - {{host: sip2.itsp.example, domain: itsp.example}}
  - {{host: sip3.itsp.example, domain: itsp.example}}
telephone_companies:
  - {{name: TELCO-098, area_code: "098"}}
  - name: TELCO-012
    area_code: "012"
    subscribers: [{{numbers: "012-999-0000..012-999-9999", answer_after: 1s}}]
pbxs:
  - name: PBX-1
    host: pbx1.example
    telephone_company: TELCO-098
    extensions: [{{numbers: "{first}..{last}"}}]
    public_trunk: {{channels: 2000, numbers: ["098-765-4321"]}}
    v_sipgw:
      sip_server: 192.0.2.10
      sip_server_failover: 192.0.2.11
      registrar: itsp.example
      registrar_failover: 192.0.2.11
      invite_timeout: 4s
      register_expires: 31536000
      numbers: ["098-765-4321"]
traffic:
  - from: PBX-1/{first}..{last}
    to: "012-999-0000..012-999-9999"
    erlangs: {erlangs:g}
    mean_hold: {hold_s:g}s
    hold: exponential
    calls: {calls}
timeline:
  - {{at: 0s, do: "down sip1.itsp.example sip2.itsp.example sip3.itsp.example"}}
"""


if __name__ == "__main__":
    import sys
    print(scenario(int(sys.argv[1]), int(sys.argv[2])))
