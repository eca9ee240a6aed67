// flock(2) for the transaction manager: Node has no binding for it.
#include <napi.h>
#include <sys/file.h>
#include <cerrno>
#include <cstring>

// flock(fd, mode, wait): mode "ex" | "sh" | "un". Returns true when taken,
// false when wait is false and someone else holds it. Blocking is fine: tm is
// a short-lived CLI that has nothing else to do until it holds the lock.
static Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsBoolean())
    throw Napi::TypeError::New(env, "flock(fd, 'ex'|'sh'|'un', wait)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string mode = info[1].As<Napi::String>().Utf8Value();
  int op = mode == "ex" ? LOCK_EX : mode == "sh" ? LOCK_SH : mode == "un" ? LOCK_UN : -1;
  if (op < 0) throw Napi::TypeError::New(env, "flock: mode must be ex, sh or un");
  if (!info[2].As<Napi::Boolean>().Value()) op |= LOCK_NB;
  int r;
  do r = flock(fd, op); while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    Napi::Error e = Napi::Error::New(env, std::string("flock: ") + strerror(errno));
    e.Set("code", Napi::String::New(env, errno == EBADF ? "EBADF" : errno == ENOLCK ? "ENOLCK" : "EIO"));
    throw e;
  }
  return Napi::Boolean::New(env, true);
}

// Called from addon.cc.
void InitFlock(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock));
}
