import sys, re, collections
# per (thread, innermost warren frame, syscall) share
samples=[]; cur=None
for line in open(sys.argv[1]):
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if not line.startswith('\t') and not line.startswith(' '):
        cur=[line.split()[0], []]; continue
    if cur is not None:
        f=line.strip().split(' ',1)[1] if ' ' in line.strip() else line.strip()
        cur[1].append(f)
if cur: samples.append(cur)
cnt=collections.Counter(); th=collections.Counter()
for comm, frames in samples:
    comm=re.sub(r'-\d+$','-*',comm)
    th[comm]+=1
    sysc=next((re.sub(r'\+0x.*','',f) for f in frames if '__x64_sys_' in f or 'do_syscall' in f and False), '')
    sysc=next((re.sub(r'\+0x.*','',f) for f in frames if '__x64_sys_' in f), '')
    w=next((re.sub(r'\+0x[0-9a-f]+ .*','',f) for f in frames if ('warren::' in f or 'amiquip' in f or 'crossbeam' in f)), '?')
    cnt[(comm,w[:90],sysc)]+=1
n=len(samples)
for k,v in sorted(th.items(), key=lambda x:-x[1]): print(f"thread {k:20s} {100*v/n:5.1f}%")
for k,v in cnt.most_common(int(sys.argv[2])): print(f"{100*v/n:5.1f}% {k}")
