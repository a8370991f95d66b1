{
  "targets": [
    {
      "target_name": "meshgate_io",
      "sources": ["shared/native/meshgate_io.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["shared/native/meshgate_io.c"] }]
      ]
    }
  ]
}
