{
  "targets": [
    {
      "target_name": "weft",
      "sources": [
        "native/addon.cc",
        "native/shm.cc",
        "native/futex.cc",
        "native/proc.cc",
        "native/socket.cc",
        "native/select.cc",
        "native/continuation.cc",
        "native/load.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "libraries": ["-ldl"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
