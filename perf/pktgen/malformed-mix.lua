-- A mix of malformed frames (malformed.pcap from perf/pktgen/make-pcaps.py): truncated and
-- over-long headers, bad checksums, fragments, bad TCP flags, options and ports, hostile
-- sources, deep VLAN stacks, unknown EtherTypes. The gateway must drop every one, count it
-- under sluice_drops_total{reason} (malformed.json lists how many of each per round) and
-- answer none: "came back" should stay at zero.
--
--   pktgen -l 0-2 -n 4 -a PCI -- -P -m "[1:2].0" -s 0:malformed.pcap -f malformed-mix.lua
package.path = package.path .. ";?.lua;" .. (arg and arg[0] and arg[0]:match("(.*/)") or "") .. "?.lua"
require "Pktgen"
local common = require "common"

local s = common.settings()
local sent, answered = common.send_capture("malformed-mix", s)
if answered > 0 then
	print(string.format("malformed-mix: %d frames came back; the gateway should answer none",
		answered))
end
pktgen.quit()
