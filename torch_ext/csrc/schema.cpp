// The op schemas, defined once. Importing torch_ext loads this library and so registers them.
#include <Python.h>
#include <torch/library.h>

#include <string>

#include "mydropout.h"

extern "C" PyObject *PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}

TORCH_LIBRARY(torch_ext, m) {
  // Draws (seed, offset) from the generator of input's device into an int64 tensor of two
  // elements on that device; on CUDA it is written by a kernel, so graph replays draw anew.
  // on_cpu puts it on the CPU instead, where the kernels take it by value: no launch and no
  // device memory for an eager call, but refused under CUDA graph capture, where the values
  // must be read when the graph replays.
  m.def("philox_state(Tensor input, Generator? generator=None, bool on_cpu=False) -> Tensor",
        {at::Tag::nondeterministic_seeded});
  // Dropout with the mask of the contract for the (seed, offset) held in state (on the CPU or
  // on input's device); first_index is the mask index of the first element. It is a SymInt so
  // that under torch.compile one that changes between calls stays symbolic instead of being
  // recompiled for each value; the device kernels still take it as an int64_t.
  m.def("mydropout(Tensor input, float p, Tensor state, SymInt first_index=0) -> Tensor");
  m.def("mydropout_(Tensor(a!) input, float p, Tensor state, SymInt first_index=0) -> ()");
  // Channel dropout of an (N, C, *) input: one mask draw per (batch, channel) pair, pair
  // n * C + c at mask index first_index + n * C + c.
  m.def("mydropout_channels(Tensor input, float p, Tensor state, SymInt first_index=0) -> Tensor");
  m.def("mydropout_channels_(Tensor(a!) input, float p, Tensor state, SymInt first_index=0) "
        "-> ()");
  // The CPU kernel path in use (scalar, avx2, avx512), for benchmarks and tests.
  m.def("cpu_path() -> str",
        [] { return std::string(mydropout_cpu_path_name(mydropout_cpu_path())); });
}
