-- wrk_bodies.lua: POST distinct request bodies, read from a file, for tests/benchmarks/serving_bench.py.
--
-- Usage: wrk -s wrk_bodies.lua URL -- BODIES MODE THREADS EPOCH RUN
--   BODIES   a file of lines, one request each
--   MODE     "verbatim": each line is a whole JSON body, sent as it is (mlflow's /invocations);
--            "moment": each line is "<unix seconds>\t<a JSON object without its closing brace>" (a trigger
--            moment for offerlab's /v1/decide); the script closes it with a unique "event_id" and a "ts" that is
--            the line's time moved forward by (EPOCH + pass) * SPACING_DAYS days, so no two requests of a run,
--            or of successive runs given increasing EPOCHs, are alike, and a user's moments stay days apart
--   THREADS  wrk's -t: thread k of THREADS takes lines k+1, k+1+THREADS, ... (its own share, its own offset)
--   EPOCH    the first pass number of this run (the previous run's EPOCH plus its "passes")
--   RUN      a tag that starts every event_id of this run
-- The bearer token, if any, is read from the environment variable WRK_BEARER_TOKEN (never on the command line).
-- At the end the script prints "passes: N" (the most passes any thread began over its share) and, when a
-- response was not 2xx, "error sample: STATUS BODY" (the first such response of any thread).

local SPACING_DAYS = 14 -- > 7 days (caps, cooldowns) and whole weeks (the weekday stays the one logged)

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path, share_of = args[1], tonumber(args[3])
   mode, epoch, run = args[2], tonumber(args[4]), args[5]
   if mode ~= "verbatim" and mode ~= "moment" then
      error("wrk_bodies.lua: MODE must be 'verbatim' or 'moment', got " .. tostring(mode))
   end
   lines, times = {}, {}
   local number = 0
   for line in io.lines(path) do
      if number % share_of == thread_index then
         if mode == "moment" then
            local seconds, prefix = line:match("^(%d+)\t(.*)$")
            if seconds == nil then
               error("wrk_bodies.lua: line " .. (number + 1) .. " of " .. path .. " is not '<seconds>\\t<json>'")
            end
            table.insert(times, tonumber(seconds))
            table.insert(lines, prefix)
         else
            table.insert(lines, line)
         end
      end
      number = number + 1
   end
   if #lines == 0 then
      error("wrk_bodies.lua: thread " .. thread_index .. " has no line of " .. path)
   end
   position, passes, error_sample = 1, 1, ""
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   local token = os.getenv("WRK_BEARER_TOKEN")
   if token ~= nil and token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
   end
end

function request()
   local body
   if mode == "moment" then
      local shift = epoch + passes - 1
      local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", times[position] + shift * SPACING_DAYS * 86400)
      body = string.format('%s,"event_id":"%s-%d-%d-%d","ts":"%s"}', lines[position], run, thread_index, position,
         shift, ts)
   else
      body = lines[position]
   end
   position = position + 1
   if position > #lines then
      position, passes = 1, passes + 1
   end
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if (status < 200 or status > 299) and error_sample == "" then
      error_sample = status .. " " .. body
   end
end

function done(summary, latency, requests)
   local most, sample = 0, ""
   for _, thread in ipairs(threads) do
      local started = thread:get("passes")
      -- a thread whose position is back at 1 has not sent a line of its last pass yet
      if thread:get("position") == 1 then
         started = started - 1
      end
      most = math.max(most, started)
      if sample == "" then
         sample = thread:get("error_sample")
      end
   end
   io.write(string.format("passes: %d\n", most))
   if sample ~= "" then
      io.write("error sample: " .. (string.gsub(sample, "\n", " ")) .. "\n")
   end
end
