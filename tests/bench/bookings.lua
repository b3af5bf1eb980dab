-- POST /api/bookings for `make bench` (tests/bench/bench.sh prepends base,
-- nthreads, service, providers and days): every request of every thread is
-- a different (barber, start), walking the barbers first so that
-- concurrent requests hit different chairs. Starts are 09:00 + 45 min * k,
-- twelve a day: a 30-minute service with 10 of buffer never overlaps them.
local times = {"09:00", "09:45", "10:30", "11:15", "12:00", "12:45",
               "13:30", "14:15", "15:00", "15:45", "16:30", "17:15"}
local created = 0
local counter = 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  local idx = base + counter * nthreads + tid
  counter = counter + 1
  local p = idx % #providers
  local r = math.floor(idx / #providers)
  local s = r % #times
  local d = math.floor(r / #times) % #days
  local body = string.format(
    '{"provider_id":"%s","service_id":"%s","starts_at":"%sT%s:00-03:00"}',
    providers[p + 1], service, days[d + 1], times[s + 1])
  return wrk.format(nil, nil, nil, body)
end
