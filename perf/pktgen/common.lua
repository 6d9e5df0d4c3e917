-- Shared by the Sluice Pktgen scripts: settings from the environment, a timed send of the
-- capture loaded on the port (pktgen -s PORT:FILE.pcap), and a report of both ports' counters.
--
--   PKTGEN_TX_PORT  port that sends towards the gateway's client port (default 0)
--   PKTGEN_RX_PORT  port that sees the gateway's answers, often the same (default = TX)
--   PKTGEN_RATE     percent of line rate (default 100)
--   PKTGEN_SECONDS  how long to send (default 30)
local M = {}

function M.settings()
	local tx = os.getenv("PKTGEN_TX_PORT") or "0"
	return {
		tx = tx,
		rx = os.getenv("PKTGEN_RX_PORT") or tx,
		rate = tonumber(os.getenv("PKTGEN_RATE") or "100"),
		seconds = tonumber(os.getenv("PKTGEN_SECONDS") or "30"),
	}
end

local function counters(port)
	local all = pktgen.portStats(port, "port")
	return all[tonumber(port)]
end

-- Send the port's capture for s.seconds at s.rate; print what went out and what came back.
function M.send_capture(name, s)
	pktgen.screen("off")
	pktgen.pcap(s.tx, "on")
	pktgen.set(s.tx, "rate", s.rate)
	pktgen.set(s.tx, "count", 0) -- until stopped
	pktgen.clr()
	pktgen.delay(500)
	local t0 = os.time()
	pktgen.start(s.tx)
	pktgen.delay(s.seconds * 1000)
	pktgen.stop(s.tx)
	pktgen.delay(1000) -- the gateway's last answers
	local secs = math.max(os.time() - t0 - 1, 1)
	local out, back = counters(s.tx), counters(s.rx)
	local sent = out.opackets or 0
	local answered = back.ipackets or 0
	print(string.format("%s: sent %d frames in %d s (%.0f/s), %d came back (%.0f/s, %.3f per frame sent)",
		name, sent, secs, sent / secs, answered, answered / secs,
		sent > 0 and answered / sent or 0))
	print(string.format("%s: tx errors %d, rx errors %d, rx missed %d", name,
		out.oerrors or 0, back.ierrors or 0, back.imissed or 0))
	return sent, answered
end

return M
