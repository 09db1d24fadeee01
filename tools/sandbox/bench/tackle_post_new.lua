-- wrk: a Tackle POST creating a new record every time (the insert path;
-- the store grows by one record per request). TOKEN from the environment.
local n = 0
local fmt = '[{"cloud":"aws","product_id":"bench-product","customer_id":"c-%d-%d",' ..
            '"start_time":"2024-01-01T13:00:00Z","dimension":{"name":"users","quantity":1}}]'
local id = 0
setup = function(thread)
  id = id + 1
  thread:set("tid", id)
end
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/metering/usage-records",
                    { ["Content-Type"] = "application/json",
                      ["Authorization"] = "Bearer " .. os.getenv("TOKEN") },
                    string.format(fmt, tid or 0, n))
end
