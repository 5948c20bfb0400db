-- wrk script: POST /api/v1/entitlements/check for a school with a hard staff cap.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("KEEL_KEY") or "")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"tenant":"ROPER-ES","metric":"active_staff_users","increment":1}'
