{
  "targets": [
    {
      "target_name": "meshgate_io",
      "sources": [
        "shared/native/io/napi.c",
        "shared/native/io/batch.c",
        "shared/native/io/tun.c",
        "shared/native/io/udp.c",
        "shared/native/io/udp_offload.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux'", {
          "type": "none",
          "sources!": [
            "shared/native/io/napi.c",
            "shared/native/io/batch.c",
            "shared/native/io/tun.c",
            "shared/native/io/udp.c",
            "shared/native/io/udp_offload.c"
          ]
        }]
      ]
    },
    {
      "target_name": "meshgate_aead",
      "sources": [
        "shared/native/crypto/napi.c",
        "shared/native/crypto/aead.c",
        "shared/native/crypto/blake2s.c",
        "shared/native/crypto/x25519.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS!='linux' or node_use_openssl!='true' or node_shared_openssl=='true'", {
          "type": "none",
          "sources!": [
            "shared/native/crypto/napi.c",
            "shared/native/crypto/aead.c",
            "shared/native/crypto/blake2s.c",
            "shared/native/crypto/x25519.c"
          ]
        }]
      ]
    }
  ]
}
