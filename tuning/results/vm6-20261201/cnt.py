import json,sys
for f in sys.argv[1:]:
    d=json.load(open(f))
    for r in d['rows']:
        c=r['counters']
        print(f, 'ratio %.2f' % r['ratio_to_ceiling'], 'pts/s %.0f' % r['points_per_sec'], 'cpu', r['usage']['cpu_seconds'], {k:c.get(k) for k in ['update_operations','files_mapped','writer_lingers']})
