# append+fsync of 200 entries of 8 KiB: a segment file (write+fdatasync) vs SQLite
# (INSERT+COMMIT, WAL, synchronous=FULL), the two formats the spool could use.
import os, sqlite3, time, tempfile, zlib
N, SIZE = 200, 8192
payload = os.urandom(SIZE)
d = tempfile.mkdtemp(dir=os.environ.get("SPOOL_BENCH_DIR", "."))
fd = os.open(os.path.join(d, "seg"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
t = time.perf_counter()
for i in range(N):
    hdr = len(payload).to_bytes(4, "little") + (1).to_bytes(4, "little") + (0).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little")
    os.write(fd, hdr + payload)
    os.fdatasync(fd)
seg = (time.perf_counter() - t) / N
db = sqlite3.connect(os.path.join(d, "s.db"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE e(id INTEGER PRIMARY KEY, records INT, body BLOB)")
t = time.perf_counter()
for i in range(N):
    db.execute("BEGIN"); db.execute("INSERT INTO e(records, body) VALUES (1, ?)", (payload,)); db.execute("COMMIT")
sq = (time.perf_counter() - t) / N
# without fsync: the spool-first append on the worker (fsync every 500 ms)
t = time.perf_counter()
for i in range(N):
    os.write(fd, hdr + payload)
nosync = (time.perf_counter() - t) / N
print(f"segment append+fdatasync {seg*1e6:.0f} us, sqlite insert+commit(FULL) {sq*1e6:.0f} us, segment append alone {nosync*1e6:.1f} us")
