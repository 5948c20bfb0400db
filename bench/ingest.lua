-- wrk script: POST /api/v1/events with batches of BATCH events (default 500), every key unique.
local key = os.getenv("KEEL_KEY") or ""
local batch = tonumber(os.getenv("BATCH") or "500")
local schools = {"LINCOLN-HS", "LINCOLN-EAST-MS", "PRAIRIE-HILL-ES", "ROPER-ES", "SALTILLO-ES"}
local counter = 0
local tag = ""

function init(args)
  tag = tostring({}):gsub("table: ", "") .. "-" .. tostring(os.time())
end

request = function()
  counter = counter + 1
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60)
  local parts = {}
  for i = 1, batch do
    parts[i] = string.format(
      '{"idempotency_key":"w%s-%d-%d","tenant":"%s","metric":"assessments","timestamp":"%s","properties":{"role":"teacher","user_id":"u%d"}}',
      tag, counter, i, schools[(i % #schools) + 1], ts, i % 300)
  end
  return wrk.format("POST", "/api/v1/events",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"},
    "[" .. table.concat(parts, ",") .. "]")
end
