-- pandoc filter for the man pages: a table becomes one paragraph per row ("first cell:
-- header: cell; header: cell"), since tbl cannot fit doc/config.md's wide tables into an
-- 80-column terminal without warnings.
function Table(tbl)
  local heads = {}
  for _, row in ipairs(tbl.head.rows) do
    for i, cell in ipairs(row.cells) do
      heads[i] = pandoc.utils.stringify(cell.contents)
    end
  end
  local out = {}
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local first, rest = nil, {}
      for i, cell in ipairs(row.cells) do
        local text = pandoc.utils.stringify(cell.contents)
        if i == 1 then
          first = text
        elseif text ~= "" then
          local head = heads[i] or ""
          table.insert(rest, head ~= "" and (head .. ": " .. text) or text)
        end
      end
      local inlines = { pandoc.Strong({ pandoc.Str(first or "") }) }
      if #rest > 0 then
        table.insert(inlines, pandoc.Str(": " .. table.concat(rest, "; ")))
      end
      table.insert(out, pandoc.Para(inlines))
    end
  end
  return out
end
