// dmexec native core: the only code that talks to /dev/mapper/control.
//
// Every ioctl goes through do_ioctl(). run() executes a whole pre-built
// program (ioctl buffers prepared by TypeScript, recovery branches and undo
// lists included)
// in one call: it locks memory first, then issues only ioctl/nanosleep until
// the program ends — no allocation, no N-API, no file I/O in between — so a
// suspended device can never block the process that must resume it.
#include <napi.h>

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <vector>

namespace {

constexpr uint32_t DM_HEADER_SIZE = 312;
constexpr uint32_t DM_FLAGS_OFFSET = 28;
constexpr uint32_t DM_DEV_OFFSET = 40;
constexpr uint32_t DM_BUFFER_FULL_FLAG = 1u << 8;
constexpr unsigned long DM_IOCTL_BASE = 0xC138FD00UL;  // _IOWR(0xfd, 0, struct dm_ioctl)

// The one place a dm ioctl is issued. Returns 0 or -errno.
int do_ioctl(int fd, uint32_t nr, uint8_t* buf) {
  int r = ioctl(fd, DM_IOCTL_BASE | nr, buf);
  return r < 0 ? -errno : 0;
}

struct Patch {
  uint32_t offset;  // where in buf the reference text goes
  uint32_t width;   // bytes reserved (padded with spaces; the kernel splits on whitespace)
  uint32_t source;  // op index of the CREATE whose resulting dev is referenced
};

struct Op {
  uint32_t nr;
  uint8_t* buf;
  size_t len;
  uint32_t retries;  // extra attempts on EBUSY/EINTR
  uint32_t branch_start;  // on_error: run when this op fails
  uint32_t branch_count;
  uint32_t undo_start;    // undo: run, newest first, when a later main op fails
  uint32_t undo_count;
  uint32_t patch_start;
  uint32_t patch_count;
};

struct Program {
  int fd;
  std::vector<Op> ops;
  std::vector<Patch> patches;
  uint32_t main_count;
  int32_t* results;  // triples: op index, result (0 / -errno), recovery flag
  uint32_t result_cap;
  uint32_t result_count;
  long busy_delay_ns;
};

// Write "maj:min" left-aligned in [dst, dst+width), space padded. No allocation.
bool format_dev(uint8_t* dst, uint32_t width, uint64_t dev) {
  char tmp[32];
  unsigned maj = (unsigned)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffu));
  unsigned min = (unsigned)((dev & 0xff) | ((dev >> 12) & ~0xffu));
  int n = 0;
  char digits[12];
  int d = 0;
  do { digits[d++] = (char)('0' + maj % 10); maj /= 10; } while (maj);
  while (d) tmp[n++] = digits[--d];
  tmp[n++] = ':';
  do { digits[d++] = (char)('0' + min % 10); min /= 10; } while (min);
  while (d) tmp[n++] = digits[--d];
  if ((uint32_t)n > width) return false;
  memcpy(dst, tmp, n);
  memset(dst + n, ' ', width - n);
  return true;
}

int exec_op(Program& p, uint32_t i) {
  Op& op = p.ops[i];
  for (uint32_t k = 0; k < op.patch_count; k++) {
    const Patch& pt = p.patches[op.patch_start + k];
    uint64_t dev;
    memcpy(&dev, p.ops[pt.source].buf + DM_DEV_OFFSET, sizeof dev);
    if (dev == 0) {
      // The create did not run. A reference written in advance (an undo step's
      // fallback: the device was never removed) stands; a blank one cannot.
      if (op.buf[pt.offset] == ' ') return -ENODEV;
      continue;
    }
    if (!format_dev(op.buf + pt.offset, pt.width, dev)) return -ENAMETOOLONG;
  }
  uint8_t saved[DM_HEADER_SIZE];  // the kernel rewrites the header; retries need the original
  memcpy(saved, op.buf, DM_HEADER_SIZE);
  for (uint32_t attempt = 0;; attempt++) {
    int r = do_ioctl(p.fd, op.nr, op.buf);
    if (r == -EBUSY || r == -EINTR) {
      if (attempt < op.retries) {
        memcpy(op.buf, saved, DM_HEADER_SIZE);
        struct timespec ts = {p.busy_delay_ns / 1000000000L, p.busy_delay_ns % 1000000000L};
        nanosleep(&ts, nullptr);
        continue;
      }
    }
    if (r < 0) return r;
    uint32_t flags;
    memcpy(&flags, op.buf + DM_FLAGS_OFFSET, sizeof flags);
    // Buffers were sized in advance; a full one means missing data, never a silent truncation.
    if (flags & DM_BUFFER_FULL_FLAG) return -ENOBUFS;
    return 0;
  }
}

void record(Program& p, uint32_t index, int result, bool recovery) {
  if (p.result_count >= p.result_cap) return;  // capacity is ops.size(): cannot happen
  int32_t* slot = p.results + 3 * p.result_count++;
  slot[0] = (int32_t)index;
  slot[1] = result;
  slot[2] = recovery ? 1 : 0;
}

void run_list(Program& p, uint32_t start, uint32_t count) {
  for (uint32_t j = start; j < start + count; j++) record(p, j, exec_op(p, j), true);
}

// The rollback of a failed main op i: its own on_error, then the undo lists
// of ops i-1 … 0 (every one of them completed), all best effort.
void execute(Program& p) {
  for (uint32_t i = 0; i < p.main_count; i++) {
    int r = exec_op(p, i);
    record(p, i, r, false);
    if (r == 0) continue;
    run_list(p, p.ops[i].branch_start, p.ops[i].branch_count);
    for (uint32_t k = i; k-- > 0;) run_list(p, p.ops[k].undo_start, p.ops[k].undo_count);
    return;
  }
}

// Touch stack pages now so the critical section never faults one in.
__attribute__((noinline)) void prefault_stack() {
  volatile uint8_t area[384 * 1024];
  for (size_t i = 0; i < sizeof area; i += 4096) area[i] = 0;
}

// --- locking just what the critical section touches (LVM's use_mlockall=0) ---
// mlockall on a Node process locks ~1 GB (V8 reservations, thread stacks):
// seconds to populate under emulation, and memory the machine must give up.
// The critical section only runs this object's code, libc's ioctl/nanosleep,
// a stack we prefault, and the op buffers, so those are what we lock.
struct LockSet {
  // Reserved before anything is locked (ops + fixed ranges), so pushing never
  // allocates; every range locked is recorded, so every one is unlocked.
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  int err = 0;
};

uintptr_t page_size() { return (uintptr_t)sysconf(_SC_PAGESIZE); }

void lock_range(LockSet& ls, const void* from, size_t len) {
  if (ls.err || len == 0) return;
  uintptr_t ps = page_size();
  uintptr_t a = (uintptr_t)from & ~(ps - 1);
  uintptr_t b = ((uintptr_t)from + len + ps - 1) & ~(ps - 1);
  if (mlock((void*)a, b - a) != 0) {
    ls.err = errno;
    return;
  }
  ls.ranges.emplace_back(a, b);
}

struct ObjectQuery {
  uintptr_t addr;
  LockSet* ls;
  bool found;
};

// Lock every loaded segment of the shared object that contains `addr`.
int lock_object_cb(struct dl_phdr_info* info, size_t, void* data) {
  ObjectQuery* q = (ObjectQuery*)data;
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph.p_vaddr;
    if (q->addr >= a && q->addr < a + ph.p_memsz) mine = true;
  }
  if (!mine) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) lock_range(*q->ls, (void*)(info->dlpi_addr + ph.p_vaddr), ph.p_memsz);
  }
  q->found = true;
  return 1;
}

void lock_object_of(LockSet& ls, const void* addr) {
  ObjectQuery q{(uintptr_t)addr, &ls, false};
  dl_iterate_phdr(lock_object_cb, &q);
}

void lock_ranges(LockSet& ls, Program& p) {
  lock_object_of(ls, (const void*)&execute);      // this addon
  lock_object_of(ls, (const void*)&ioctl);        // libc: ioctl, nanosleep, memcpy
  lock_object_of(ls, (const void*)&nanosleep);
  volatile uint8_t here = 0;
  // The frames execute() will use lie below this one; prefault_stack touched them.
  lock_range(ls, (const void*)((uintptr_t)&here - 320 * 1024), 320 * 1024 + 4096);
  lock_range(ls, (const void*)&errno, sizeof(int));
  lock_range(ls, p.ops.data(), p.ops.size() * sizeof(Op));
  lock_range(ls, p.patches.data(), p.patches.size() * sizeof(Patch));
  lock_range(ls, p.results, (size_t)p.result_cap * 3 * sizeof(int32_t));
  for (const Op& op : p.ops) lock_range(ls, op.buf, op.len);
}

void unlock_ranges(LockSet& ls) {
  for (const auto& r : ls.ranges) munlock((void*)r.first, r.second - r.first);
  ls.ranges.clear();
}

// VmLck from /proc/self/status, in bytes; read with a stack buffer only.
long locked_bytes() {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char* p = strstr(buf, "VmLck:");
  if (!p) return -1;
  p += 6;
  while (*p == ' ' || *p == '\t') p++;
  long kb = 0;
  while (*p >= '0' && *p <= '9') kb = kb * 10 + (*p++ - '0');
  return kb * 1024;
}

uint32_t u32(const Napi::Object& o, const char* key) {
  return o.Get(key).As<Napi::Number>().Uint32Value();
}

Napi::Value OpenControl(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int r = close(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// ioctl(fd, nr, buf) -> 0 | -errno. For queries; programs use run().
Napi::Value Ioctl(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t nr = info[1].As<Napi::Number>().Uint32Value();
  auto buf = info[2].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() < DM_HEADER_SIZE) throw Napi::RangeError::New(info.Env(), "dm ioctl buffer smaller than the header");
  return Napi::Number::New(info.Env(), do_ioctl(fd, nr, buf.Data()));
}

// mknod(path, major, minor, mode) for /dev/mapper nodes; Node's fs has no mknod.
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  unsigned maj = info[1].As<Napi::Number>().Uint32Value();
  unsigned min = info[2].As<Napi::Number>().Uint32Value();
  unsigned mode = info[3].As<Napi::Number>().Uint32Value();
  mode_t old = umask(0);
  int r = mknod(path.c_str(), S_IFBLK | (mode & 07777), makedev(maj, min));
  int e = errno;
  umask(old);
  return Napi::Number::New(info.Env(), r < 0 ? -e : 0);
}

// run(fd, ops, mainCount, results, {lock: 0|1|2, busyDelayMs}) -> {count, lockErrno, lockedBytes}
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Program p;
  p.fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array ops = info[1].As<Napi::Array>();
  p.main_count = info[2].As<Napi::Number>().Uint32Value();
  Napi::Int32Array results = info[3].As<Napi::Int32Array>();
  Napi::Object opts = info[4].As<Napi::Object>();
  // 0: no locking (tests of the planner only), 1: lock ranges, 2: mlockall
  uint32_t lock = opts.Get("lock").As<Napi::Number>().Uint32Value();
  p.busy_delay_ns = (long)opts.Get("busyDelayMs").As<Napi::Number>().Int64Value() * 1000000L;

  uint32_t n = ops.Length();
  if (p.main_count > n) throw Napi::RangeError::New(env, "mainCount exceeds ops");
  if (results.ElementLength() < (size_t)n * 3) throw Napi::RangeError::New(env, "results array too small");
  p.results = results.Data();
  p.result_cap = n;
  p.result_count = 0;
  p.ops.reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Object o = ops.Get(i).As<Napi::Object>();
    auto buf = o.Get("buf").As<Napi::Buffer<uint8_t>>();
    if (buf.Length() < DM_HEADER_SIZE) throw Napi::RangeError::New(env, "op buffer smaller than the dm header");
    Napi::Value us = o.Get("undoStart");
    Napi::Value uc = o.Get("undoCount");
    Op op{u32(o, "nr"), buf.Data(), buf.Length(), u32(o, "retries"), u32(o, "branchStart"), u32(o, "branchCount"),
          us.IsNumber() ? us.As<Napi::Number>().Uint32Value() : 0, uc.IsNumber() ? uc.As<Napi::Number>().Uint32Value() : 0,
          (uint32_t)p.patches.size(), 0};
    if ((uint64_t)op.branch_start + op.branch_count > n) throw Napi::RangeError::New(env, "branch outside ops");
    if ((uint64_t)op.undo_start + op.undo_count > n) throw Napi::RangeError::New(env, "undo list outside ops");
    if (i >= p.main_count && (op.branch_count || op.undo_count)) throw Napi::RangeError::New(env, "recovery op with its own branch");
    Napi::Value pv = o.Get("patches");
    if (pv.IsArray()) {
      Napi::Array pa = pv.As<Napi::Array>();
      for (uint32_t k = 0; k + 2 < pa.Length(); k += 3) {
        Patch pt{pa.Get(k).As<Napi::Number>().Uint32Value(), pa.Get(k + 1).As<Napi::Number>().Uint32Value(),
                 pa.Get(k + 2).As<Napi::Number>().Uint32Value()};
        if (pt.source >= n || (size_t)pt.offset + pt.width > op.len) throw Napi::RangeError::New(env, "patch out of range");
        p.patches.push_back(pt);
        op.patch_count++;
      }
    }
    p.ops.push_back(op);
  }

  int lock_errno = 0;
  long locked = 0;
  LockSet ls;
  ls.ranges.reserve(p.ops.size() + 64);  // every object's PT_LOAD segments, stack, arrays
  if (lock) prefault_stack();
  if (lock == 1) {
    lock_ranges(ls, p);
    lock_errno = ls.err;
    if (lock_errno) unlock_ranges(ls);
  } else if (lock == 2) {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) lock_errno = errno;
  }
  if (lock_errno == 0) {
    if (lock) locked = locked_bytes();  // before: reading /proc is file I/O
    execute(p);  // ---- critical section: ioctl and nanosleep only ----
    if (lock == 1) unlock_ranges(ls);
    if (lock == 2) munlockall();
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("count", Napi::Number::New(env, p.result_count));
  out.Set("lockErrno", Napi::Number::New(env, lock_errno));
  out.Set("lockedBytes", Napi::Number::New(env, (double)locked));
  return out;
}

}  // namespace

// Called from addon.cc: dmexec's functions on the one addon's exports.
void InitDmexec(Napi::Env env, Napi::Object exports) {
  exports.Set("openControl", Napi::Function::New(env, OpenControl));
  exports.Set("close", Napi::Function::New(env, CloseFd));
  exports.Set("ioctl", Napi::Function::New(env, Ioctl));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("run", Napi::Function::New(env, Run));
}
