import PBXSimCLI

PBXSim.entry()
