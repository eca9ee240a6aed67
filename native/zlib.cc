// Raw deflate for the metadata records, from the zlib that Node itself is
// built with (its symbols are the process's): node:zlib gives the same bytes
// but costs a short-lived tool ~3 ms to load with Node's stream machinery.
// Same library and parameters as zlib.deflateRawSync({ level }), so the same
// output.
#include <napi.h>
#include <zlib.h>
#include <string>
#include <vector>

static Napi::Uint8Array Bytes(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), usage);
  return info[0].As<Napi::Uint8Array>();
}

// The whole input in, the whole output buffer to fill: one call does it all.
static void Aim(z_stream& z, Napi::Uint8Array in, std::vector<unsigned char>& out) {
  z.next_in = in.Data();
  z.avail_in = in.ByteLength();
  z.next_out = out.data();
  z.avail_out = out.size();
}

// deflateRaw(bytes: Uint8Array, level: number) -> Buffer
static Napi::Value DeflateRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array in = Bytes(info, "deflateRaw(Uint8Array, level)");
  int level = info[1].As<Napi::Number>().Int32Value();
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw Napi::Error::New(env, "deflateRaw: deflateInit2 failed");
  std::vector<unsigned char> out(deflateBound(&z, in.ByteLength()));
  Aim(z, in, out);
  int r = deflate(&z, Z_FINISH);
  size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  if (r != Z_STREAM_END) throw Napi::Error::New(env, "deflateRaw: deflate did not finish");
  return Napi::Buffer<unsigned char>::Copy(env, out.data(), n);
}

// inflateRaw(bytes: Uint8Array, max: number) -> Buffer of at most max bytes; throws on
// damaged input, on input that would inflate past max, and on a stream that ends early.
static Napi::Value InflateRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array in = Bytes(info, "inflateRaw(Uint8Array, max)");
  double max = info[1].As<Napi::Number>().DoubleValue();
  if (!(max >= 1) || max > 1 << 30) throw Napi::RangeError::New(env, "inflateRaw: max out of range");
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) throw Napi::Error::New(env, "inflateRaw: inflateInit2 failed");
  std::vector<unsigned char> out(static_cast<size_t>(max));
  Aim(z, in, out);
  int r = inflate(&z, Z_FINISH);
  size_t n = out.size() - z.avail_out;
  std::string why = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (r == Z_BUF_ERROR && z.avail_out == 0) throw Napi::RangeError::New(env, "inflateRaw: output larger than max");
  if (r != Z_STREAM_END) throw Napi::Error::New(env, "inflateRaw: " + (why.empty() ? std::string("truncated or damaged input") : why));
  return Napi::Buffer<unsigned char>::Copy(env, out.data(), n);
}

// Called from addon.cc.
void InitZlib(Napi::Env env, Napi::Object exports) {
  exports.Set("deflateRaw", Napi::Function::New(env, DeflateRaw));
  exports.Set("inflateRaw", Napi::Function::New(env, InflateRaw));
}
