// SHA-256 for the metadata records, from the OpenSSL that Node itself is
// linked with (its symbols are the process's): node:crypto would do the same
// hash but costs every short-lived tool ~4 ms to load (it pulls in Node's
// stream machinery), more than tm's whole read of a small VG.
#include <napi.h>
#include <openssl/evp.h>

// sha256(bytes: Uint8Array) -> Buffer (32 bytes).
static Napi::Value Sha256(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "sha256(Uint8Array)");
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.Data(), data.ByteLength(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32)
    throw Napi::Error::New(env, "sha256: OpenSSL's EVP_Digest failed");
  return Napi::Buffer<unsigned char>::Copy(env, md, len);
}

// Called from addon.cc.
void InitSha256(Napi::Env env, Napi::Object exports) {
  exports.Set("sha256", Napi::Function::New(env, Sha256));
}
