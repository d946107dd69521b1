-- varied_search.lua - wrk script for bench/api.sh: every request a different shopper search.
--
-- Environment (read by every wrk thread):
--   BENCH_API_KEY   the X-API-Key header value
--   VARIED_KIND     search (GET /api/v2/diamonds), search_facets (the same with include=facets)
--                   or facets (GET /api/v2/diamonds/facets with the same filters)
--   VARIED_SEED     base seed (default 42); thread i draws from VARIED_SEED + 7919 * i, so a
--                   run is reproducible and the threads do not repeat each other
--
-- One search, as a shopper makes it on a storefront: 1-3 distinct shapes; a carat range; a run
-- of 1-4 contiguous colour grades and one of 1-4 contiguous clarity grades; lab_grown in 30 %
-- of searches; a retail price range in 40 %; any sort_by and sort_order; page 1-5; limit
-- 20-50. Multi-value filters use the three accepted forms (repeated, [] and comma-separated).
-- The values match the bench catalogue (bench/api.sh), so most searches find stones.
--
-- done() prints "varied: <kind> <requests> generated, <distinct> distinct URLs" (summed over
-- threads; a thread keeps a set of what it sent): bench/api.sh checks that the URLs differ.

local SHAPES = {"ROUND", "OVAL", "EMERALD", "CUSHION", "PEAR", "PRINCESS", "RADIANT",
                "MARQUISE", "ASSCHER", "HEART"}
local COLORS = {"D", "E", "F", "G", "H", "I", "J", "K"}
local CLARITIES = {"FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1"}
local SORTS = {"created_at", "retail_price", "feed_price", "carats", "color", "clarity"}

local kind = os.getenv("VARIED_KIND") or "search"
local key = os.getenv("BENCH_API_KEY") or ""
local base_seed = tonumber(os.getenv("VARIED_SEED") or "42")
local path = kind == "facets" and "/api/v2/diamonds/facets" or "/api/v2/diamonds"

-- setup() runs in the main state once per thread; done() reads the threads' counters.
local threads = {}
local next_id = 0
function setup(thread)
    thread:set("thread_id", next_id)
    next_id = next_id + 1
    threads[#threads + 1] = thread
end

-- Globals of a thread's state (set in setup, read back in done).
thread_id = 0
generated = 0
distinct = 0
local seen = {}

function init(args)
    math.randomseed(base_seed + 7919 * thread_id)
    -- LuaJIT's first draws after seeding are poorly mixed.
    for _ = 1, 10 do math.random() end
    wrk.headers["X-API-Key"] = key
end

local function fmt2(x) return string.format("%.2f", x) end

-- A list parameter in one of the three accepted forms.
local function list(parts, name, values)
    local form = math.random(3)
    if form == 1 or #values == 1 then
        for _, v in ipairs(values) do parts[#parts + 1] = name .. "=" .. v end
    elseif form == 2 then
        for _, v in ipairs(values) do parts[#parts + 1] = name .. "%5B%5D=" .. v end
    else
        parts[#parts + 1] = name .. "=" .. table.concat(values, ",")
    end
end

local function run_of(grades, max_len)
    local len = math.random(max_len)
    local first = math.random(#grades - len + 1)
    local out = {}
    for i = first, first + len - 1 do out[#out + 1] = grades[i] end
    return out
end

function make_query()
    local parts = {}
    -- 1-3 distinct shapes.
    local n, picked, shapes = math.random(3), {}, {}
    while #shapes < n do
        local s = SHAPES[math.random(#SHAPES)]
        if not picked[s] then picked[s] = true; shapes[#shapes + 1] = s end
    end
    list(parts, "shape", shapes)
    -- A carat range inside the catalogue's 0.30-4.99.
    local cmin = 0.3 + math.random(0, 300) / 100
    parts[#parts + 1] = "carat_min=" .. fmt2(cmin)
    parts[#parts + 1] = "carat_max=" .. fmt2(cmin + math.random(10, 200) / 100)
    list(parts, "color", run_of(COLORS, 4))
    list(parts, "clarity", run_of(CLARITIES, 4))
    if math.random() < 0.3 then
        parts[#parts + 1] = "lab_grown=" .. (math.random(2) == 1 and "true" or "false")
    end
    if math.random() < 0.4 then
        local pmin = math.random(500, 20000)
        parts[#parts + 1] = "price_min=" .. pmin
        parts[#parts + 1] = "price_max=" .. math.floor(pmin * (1.5 + math.random() * 2.5))
    end
    if kind ~= "facets" then
        parts[#parts + 1] = "sort_by=" .. SORTS[math.random(#SORTS)]
        parts[#parts + 1] = "sort_order=" .. (math.random(2) == 1 and "asc" or "desc")
        parts[#parts + 1] = "page=" .. math.random(5)
        parts[#parts + 1] = "limit=" .. math.random(20, 50)
    end
    if kind == "search_facets" then parts[#parts + 1] = "include=facets" end
    -- Shoppers' parameters come in any order.
    for i = #parts, 2, -1 do
        local j = math.random(i)
        parts[i], parts[j] = parts[j], parts[i]
    end
    return path .. "?" .. table.concat(parts, "&")
end

function request()
    local url = make_query()
    generated = generated + 1
    if not seen[url] then seen[url] = true; distinct = distinct + 1 end
    return wrk.format("GET", url)
end

-- VARIED_CHECK=1 (the warm-up run of bench/api.sh): count the answers that were 200, those
-- whose total was 0 (to show the searches find stones) and, for search_facets and facets, 200
-- answers without a "facets" member (an API that ignores include=facets). Off in measured runs
-- (a response callback costs wrk CPU on the same cores as the server).
ok_200 = 0
empty = 0
no_facets = 0
if os.getenv("VARIED_CHECK") == "1" then
    function response(status, headers, body)
        if status == 200 then
            ok_200 = ok_200 + 1
            if body:find('"total":0,', 1, true) or body:find('"total":0}', 1, true) then
                empty = empty + 1
            end
            if kind ~= "search" and not body:find('"facets":{', 1, true) then
                no_facets = no_facets + 1
            end
        end
    end
end

function done(summary, latency, requests)
    local g, d, ok, e, nf = 0, 0, 0, 0, 0
    for _, t in ipairs(threads) do
        g = g + (t:get("generated") or 0)
        d = d + (t:get("distinct") or 0)
        ok = ok + (t:get("ok_200") or 0)
        e = e + (t:get("empty") or 0)
        nf = nf + (t:get("no_facets") or 0)
    end
    io.write(string.format("varied: %s %d generated, %d distinct URLs", kind, g, d))
    if os.getenv("VARIED_CHECK") == "1" then
        io.write(string.format(", %d answered 200, %d of them with total 0, %d without facets",
                               ok, e, nf))
    end
    io.write("\n")
end
