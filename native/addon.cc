// dvm's one native addon (dvm.node): device-mapper ioctls for dmexec
// (dmexec.cc), flock(2) for tm (flock.cc), and SHA-256 and raw deflate for the
// metadata records (sha256.cc, zlib.cc). One addon because the usual
// loader (node-gyp-build) and prebuild layout (prebuildify) hold one per
// package; loading the other half costs tm one small shared object (bench/startup.md).
#include <napi.h>

void InitDmexec(Napi::Env env, Napi::Object exports);
void InitFlock(Napi::Env env, Napi::Object exports);
void InitSha256(Napi::Env env, Napi::Object exports);
void InitZlib(Napi::Env env, Napi::Object exports);

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitDmexec(env, exports);
  InitFlock(env, exports);
  InitSha256(env, exports);
  InitZlib(env, exports);
  return exports;
}

NODE_API_MODULE(dvm, Init)
