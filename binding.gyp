{
  "targets": [
    {
      "target_name": "gliner_blas",
      "sources": ["native/gliner_blas.c"],
      "cflags": ["-O2"],
      "conditions": [
        ["OS=='mac'", {
          "defines": ["GLINER_ACCELERATE"],
          "libraries": ["-framework Accelerate"]
        }],
        ["OS!='mac'", {
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
