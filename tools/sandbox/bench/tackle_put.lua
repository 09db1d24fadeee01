-- wrk: the same Tackle PUT over and over (an idempotent replay: one record
-- updated in place). TOKEN comes from the environment.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '[{"cloud":"aws","product_id":"bench-product","customer_id":"bench-customer",' ..
           '"start_time":"2024-01-01T13:00:00.000000+00:00",' ..
           '"dimension":{"name":"users","quantity":42}}]'
