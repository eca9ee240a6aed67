{
  "targets": [
    {
      "target_name": "dvm",
      "sources": ["native/addon.cc", "native/dmexec.cc", "native/flock.cc", "native/sha256.cc", "native/zlib.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-Wl,-z,now"]
    }
  ]
}
