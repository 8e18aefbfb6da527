-- The load for `make bench` (driven by bench/run.py): each request as a random user, with that
-- user's token, on one of that user's seeded tasks.
--   wrk ... -s mixed.lua URL -- DATA_FILE MODE [LIST_QUERY]
-- DATA_FILE: one user a line, "<path-safe user id> <token> <task id> <task id> ...".
-- MODE: "mixed" (60% list, 20% create, 10% get one, 10% patch), "list" (list only) or
-- "bare" (GET / on the bare FastAPI app, the ceiling of the stack).
-- LIST_QUERY is appended to every list path, e.g. "?limit=100".
-- The `done` hook prints one line, "BENCH_JSON {...}", for the driver to parse.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
  table.insert(threads, thread)
end

local users = {}
local mode = "mixed"
local list_query = ""
local patch_bodies = { '{"completed":true}', '{"completed":false}' }
local create_body = '{"title":"Benchmark task","description":"Created under load"}'
-- Per-thread status counts; global so that `done` can read them with thread:get.
statuses = {}

local function load_users(path)
  for line in io.lines(path) do
    local fields = {}
    for field in line:gmatch("%S+") do
      fields[#fields + 1] = field
    end
    local ids = {}
    for i = 3, #fields do
      ids[#ids + 1] = fields[i]
    end
    local auth = "Bearer " .. fields[2]
    users[#users + 1] = {
      tasks = "/api/" .. fields[1] .. "/tasks",
      ids = ids,
      read_headers = { Authorization = auth },
      write_headers = { Authorization = auth, ["Content-Type"] = "application/json" },
    }
  end
  if #users == 0 then
    error("no users in " .. path)
  end
end

function init(args)
  mode = args[2] or mode
  list_query = args[3] or list_query
  -- Different seeds per thread, or both threads would send the same sequence.
  math.randomseed(os.time() * 100 + (thread_number or 0))
  if mode ~= "bare" then
    load_users(args[1])
  end
end

function request()
  if mode == "bare" then
    return wrk.format("GET", "/")
  end
  local user = users[math.random(#users)]
  local roll = math.random(100)
  if mode == "list" or roll <= 60 then
    return wrk.format("GET", user.tasks .. list_query, user.read_headers)
  end
  if roll <= 80 then
    return wrk.format("POST", user.tasks, user.write_headers, create_body)
  end
  local one = user.tasks .. "/" .. user.ids[math.random(#user.ids)]
  if roll <= 90 then
    return wrk.format("GET", one, user.read_headers)
  end
  return wrk.format("PATCH", one, user.write_headers, patch_bodies[math.random(2)])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local function json_counts(counts)
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, json_counts(counts)
  ))
end
