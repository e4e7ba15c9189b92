-- Argo CD health check for the cxf.dev resources: FrameworkConnection,
-- ListenerRegistration and GatekeepingRule (all cxf.dev/v1alpha1).
--
--   Healthy      Ready=True, and the operator has observed the current generation.
--   Progressing  the operator has not yet observed this generation (no status, or a
--                stale status.observedGeneration), a create sent to the framework is
--                still pending (annotation cxf.dev/pending-create, no status.externalId),
--                Ready is missing or Unknown, or
--                Ready=False with a reason that resolves on its own (a dependency that
--                is not Ready yet).
--   Degraded     Ready=False with any other reason: a failure that needs a change to
--                the resource, its Secrets or the framework; or, on a Ready
--                FrameworkConnection, Reachable=False: its framework does not answer.
--
-- Argo CD runs this with obj set to the live resource (Lua 5.1).

-- Ready=False reasons that resolve without a change to this resource: they name
-- another resource that is not Ready yet.
local progressingReasons = {
  ConnectionNotReady = true,
  ListenerNotReady = true,
}

local hs = {}
local generation = obj.metadata and obj.metadata.generation
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile this resource"
  return hs
end

if status.observedGeneration == nil or status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local annotations = obj.metadata and obj.metadata.annotations
if annotations ~= nil and annotations["cxf.dev/pending-create"] ~= nil and status.externalId == nil then
  hs.status = "Progressing"
  hs.message = "A create was sent to the framework; waiting for its id"
  return hs
end

local ready = nil
local reachable = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Reachable" then
      reachable = condition
    end
  end
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

local detail = tostring(ready.reason or "")
if ready.message ~= nil and ready.message ~= "" then
  detail = detail .. ": " .. ready.message
end

if ready.observedGeneration ~= nil and ready.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. tostring(generation)
elseif ready.status == "True" and reachable ~= nil and reachable.status == "False" then
  hs.status = "Degraded"
  hs.message = tostring(reachable.reason or "") .. ": " .. tostring(reachable.message or "")
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = detail
elseif ready.status == "False" and not progressingReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = detail
else
  hs.status = "Progressing"
  hs.message = detail
end
return hs
