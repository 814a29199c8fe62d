# yaml.awk: the subset of YAML a cloud-config uses, for busybox awk (no YAML parser in
# the test installer). Reads one document and writes, under the directory `out`:
#   scalar.<a.b.c>           a mapping value: plain, 'single', "double" (JSON escapes)
#                            or a block scalar (| |- |+ >)
#   seq.<a.b.c>.<NNN>        one item of a sequence of scalars; a flow sequence item
#                            [a, "b c"] becomes a shell command line: 'a' 'b c'
#   wf.<NNN>.<key>           autoinstall.user-data.write_files items (path, permissions,
#                            encoding, owner, content)
# Keys are tracked by indentation; sequences may sit at their key's indentation or
# deeper; comments and blank lines are skipped outside block scalars.
# Not handled (not used by cloud-config files rackjoin renders): anchors, tags,
# multi-line flow collections, multi-line plain or quoted scalars.

function ind(s) { match(s, /^ */); return RLENGTH }
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function pathof(   p, i) { p = ""; for (i = 1; i <= depth; i++) p = p (i > 1 ? "." : "") key[i]; return p }
function pop_to(level) { while (depth > 0 && kind[depth] >= level) depth-- }

function hexval(h,   i, c, v) {
  v = 0
  for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", tolower(substr(h, i, 1))); v = v * 16 + (c ? c - 1 : 0) }
  return v
}

# A double-quoted scalar starting at v's first character; JSON escapes decoded.
function dq(v,   out, i, n, c, code) {
  out = ""; n = length(v)
  for (i = 2; i <= n; i++) {
    c = substr(v, i, 1)
    if (c == "\\") {
      i++; c = substr(v, i, 1)
      if (c == "n") out = out "\n"
      else if (c == "t") out = out "\t"
      else if (c == "r") out = out "\r"
      else if (c == "b") out = out "\b"
      else if (c == "f") out = out "\f"
      else if (c == "0") out = out ""
      else if (c == "u") { code = hexval(substr(v, i + 1, 4)); i += 4; out = out (code < 128 ? sprintf("%c", code) : "?") }
      else out = out c
    } else if (c == "\"") break
    else out = out c
  }
  return out
}

function scalar(v,   c) {
  v = trim(v); c = substr(v, 1, 1)
  if (c == "\"") return dq(v)
  if (c == "'") { v = substr(v, 2); sub(/'[ \t]*(#.*)?$/, "", v); gsub(/''/, "'", v); return v }
  sub(/[ \t]+#.*$/, "", v)
  return v
}

function shq(s) { gsub(/'/, "'\"'\"'", s); return "'" s "'" }

# [a, "b, c", 'd'] -> 'a' 'b, c' 'd'
function flowseq(v,   inner, out, item, i, c, q) {
  inner = substr(trim(v), 2); sub(/\][ \t]*(#.*)?$/, "", inner)
  out = ""; item = ""; q = ""
  for (i = 1; i <= length(inner); i++) {
    c = substr(inner, i, 1)
    if (q != "") {
      item = item c
      if (c == "\\" && q == "\"") { i++; item = item substr(inner, i, 1) }
      else if (c == q) q = ""
    } else if (c == "\"" || c == "'") { q = c; item = item c }
    else if (c == ",") { out = out (out == "" ? "" : " ") shq(scalar(item)); item = "" }
    else item = item c
  }
  if (trim(item) != "") out = out (out == "" ? "" : " ") shq(scalar(item))
  return out
}

function emit(name, text,   f) { f = out "/" name; printf "%s", text > f; close(f) }

# A value for the key at the top of the stack (path p).
function value(p, v,   t) {
  t = trim(v)
  if (t ~ /^[|>][-+0-9]*([ \t]+#.*)?$/) { blk = 1; blkpath = p; blkparent = kind[depth]; blkind = -1; blkbuf = ""; blkblank = ""; blkchomp = substr(t, 2, 1); return }
  if (t == "" ) return
  store(p, scalar(t))
}

function store(p, text) {
  if (wf && index(p, wfprefix ".") == 1 && depth == wfdepth + 1) emit("wf." sprintf("%03d", wfn) "." key[depth], text)
  else emit("scalar." p, text)
}

function endblock() {
  if (blkchomp == "+") blkbuf = blkbuf blkblank
  else if (blkchomp == "-") sub(/\n$/, "", blkbuf)
  store(blkpath, blkbuf)
  blk = 0
}

BEGIN { depth = 0; blk = 0; wf = 0; wfn = 0; wfprefix = "autoinstall.user-data.write_files" }

{
  line = $0
  sub(/\r$/, "", line)
  if (blk) {
    if (line ~ /^[ \t]*$/) { blkblank = blkblank "\n"; next }
    i = ind(line)
    if (blkind < 0 && i > blkparent) blkind = i
    if (blkind >= 0 && i >= blkind) {
      blkbuf = blkbuf blkblank substr(line, blkind + 1) "\n"; blkblank = ""
      next
    }
    endblock()
  }
  if (line ~ /^[ \t]*(#.*)?$/ || line ~ /^(---|\.\.\.)/) next
  i = ind(line)
  rest = substr(line, i + 1)
  if (rest ~ /^-( |$)/) {
    # A sequence item: it belongs to the nearest key at or left of the dash.
    while (depth > 0 && kind[depth] > i) depth--
    if (wf && depth < wfdepth) wf = 0
    p = pathof()
    item = substr(rest, 3)
    n = ++count[p]
    if (p == wfprefix) { wf = 1; wfn = n; wfdepth = depth }
    if (item ~ /^[A-Za-z0-9_.-]+:( |$)/) {
      # A mapping inside the item: its keys sit at the item's content column.
      k = item; sub(/:.*/, "", k)
      v = substr(item, length(k) + 2)
      key[++depth] = k; kind[depth] = i + 2
      value(pathof(), v)
    } else if (trim(item) ~ /^\[/) {
      emit("seq." p "." sprintf("%03d", n), flowseq(item))
    } else {
      emit("seq." p "." sprintf("%03d", n), scalar(item))
    }
    next
  }
  if (rest ~ /^[A-Za-z0-9_.-]+:( |$)/) {
    k = rest; sub(/:.*/, "", k)
    v = substr(rest, length(k) + 2)
    pop_to(i)
    if (wf && depth < wfdepth) wf = 0
    key[++depth] = k; kind[depth] = i
    value(pathof(), v)
    next
  }
}

END { if (blk) endblock() }
