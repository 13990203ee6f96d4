import os, sys
root = sys.argv[1]
n = 0
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith(".wsp"):
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd); n += 1
