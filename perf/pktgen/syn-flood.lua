-- SYN flood from random sources (198.18.128.0/17) at the gateway's VIP, from syn-flood.pcap
-- (perf/pktgen/make-pcaps.py). Every SYN should be answered by a SYN-ACK carrying a cookie:
-- "came back" per frame sent is the share answered. Compare with the gateway's
-- sluice_tcp_syn_in_total and its busy cycles over the same seconds.
--
--   pktgen -l 0-2 -n 4 -a PCI -- -P -m "[1:2].0" -s 0:syn-flood.pcap -f syn-flood.lua
package.path = package.path .. ";?.lua;" .. (arg and arg[0] and arg[0]:match("(.*/)") or "") .. "?.lua"
require "Pktgen"
local common = require "common"

local s = common.settings()
local sent, answered = common.send_capture("syn-flood", s)
if sent > 0 and answered < sent * 0.99 then
	print("syn-flood: fewer than 99% of the SYNs were answered")
end
pktgen.quit()
