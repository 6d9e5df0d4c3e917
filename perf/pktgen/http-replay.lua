-- Whole HTTP flows (handshake, request, ACKs, FIN) captured from the load generator with
-- perf/pktgen/http-flows.sh, replayed at the gateway's client port. The gateway must run with
-- bench.fixed_cookies = true (the same as when the capture was made) so each captured ACK
-- carries the cookie it will hand out again, and with the capture's routes and pods behind it.
-- Watch sluice_tcp_cookie_ok_total and sluice_http_requests_total: one each per captured flow
-- and replay. Flows linger about two seconds after closing: replay a capture no more often.
--
--   pktgen -l 0-2 -n 4 -a PCI -- -P -m "[1:2].0" -s 0:http-flows.pcap -f http-replay.lua
package.path = package.path .. ";?.lua;" .. (arg and arg[0] and arg[0]:match("(.*/)") or "") .. "?.lua"
require "Pktgen"
local common = require "common"

local s = common.settings()
common.send_capture("http-replay", s)
pktgen.quit()
