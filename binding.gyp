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
        "native/load.cc",
        "native/uring_io.cc",
        "native/transfer.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "libraries": ["-ldl"],
      # C++17 on every Node: no file includes v8.h (whose Node 24 version needs
      # C++20), so node-addon-api's headers are all that is compiled against.
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
