import json, sys
d = json.load(open(sys.argv[1]))
def measured(rd): return sum(1 for l in rd["legs"] if l["hka_err"] is not None)
def nmeas_pred(rd):  # inference-time: legs the pipeline measured fully (we use found & missing==0 as proxy)
    return sum(1 for l in rd["legs"] if l["found"] and l["missing"] == 0)
rules = {
 "W only": lambda r: "W",
 "fallback(C)": lambda r: "W" if r["W"]["complete"] or "C" not in r else ("C" if r["C"]["complete"] else "W"),
 "fallback(M)": lambda r: "W" if r["W"]["complete"] or "M" not in r else ("M" if r["M"]["complete"] else "W"),
 "first(C)": lambda r: "W" if "C" not in r else ("C" if r["C"]["complete"] else ("W" if r["W"]["complete"] or r["W"]["score"] > r["C"]["score"] + 0.05 else "C")),
 "best score": lambda r: "W" if "C" not in r else (max((k for k in ("W", "C") if r[k]["complete"]), key=lambda k: r[k]["score"], default="W")),
 "best score+M": lambda r: "W" if "C" not in r else (max((k for k in ("W", "C", "M") if r[k]["complete"]), key=lambda k: r[k]["score"], default="W")),
 "oracle W/C": lambda r: "W" if "C" not in r else max(("W", "C"), key=lambda k: measured(r[k])),
}
print("| rule | " + " | ".join(f"v{v}" for v in d) + " | >3° | all |")
for name, rule in rules.items():
    cells, over, tot, totn = [], 0, 0, 0
    for v, rows in d.items():
        m = n = 0
        for row in rows:
            k = rule(row["readings"])
            rd = row["readings"][k]
            m += measured(rd); n += len(rd["legs"])
            over += sum(1 for l in rd["legs"] if l["hka_err"] is not None and l["hka_err"] > 3)
        cells.append(f"{100*m/n:.1f}"); tot += m; totn += n
    print(f"| {name} | " + " | ".join(cells) + f" | {over} | {100*tot/totn:.1f} |")
