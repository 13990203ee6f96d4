import collections,sys
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    f=l.split()
    if len(f)<10: continue
    d[f[0]].append((float(f[5]),float(f[6]), float(f[7]), float(f[9])))
for k,v in d.items():
    r=sorted(x[0] for x in v);
    print(k, len(v), "ratio mean %.3f median %.3f"%(sum(r)/len(r), r[len(r)//2]), "cpu %.3f"%(sum(x[1] for x in v)/len(v)), "brokerc %.3f brokerw %.3f"%(sum(x[2] for x in v)/len(v), sum(x[3] for x in v)/len(v)))
