// The CUDA kernels' thread work (cuda/dropout_work.cuh) and launch plan (cuda/launch_plan.h)
// run on the CPU: every thread of each planned grid, one after another, on poisoned and
// guarded buffers, compared bit for bit with the C kernels (csrc/), channel dropout's pass
// included. A thread that skips an
// element, writes one twice with different values, or steps outside the buffers fails here;
// no GPU is needed. Run by tests/test_cuda_emulated.py through tests/cuda/Makefile.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "dropout_work.cuh"
#include "launch_plan.h"

using namespace mydropout_gpu;

namespace {

struct Grid {
  unsigned threads;  // per block
  unsigned max_blocks;
};

// Grids small enough that the grid-stride loops go round, and the product's (launch_plan.h).
const Grid kGrids[] = {{32, 1}, {64, 6}, {kThreads, kMaxBlocks}};

// cuda/mydropout.cu's launchers, with each kernel's grid run thread after thread.
template <typename Index, int kUnroll> struct Emulation {
  Grid g;

  template <typename T, typename Source>
  cudaError_t blocks(Source x, T *y, int64_t n, const mydropout_params &prm) const {
    if (n <= 0) return cudaSuccess;
    const uint64_t work = philox_blocks(prm.first_index, n);
    const uint64_t threads =
        uint64_t{grid_blocks(work, g.threads, g.max_blocks)} * g.threads;
    for (uint64_t t = 0; t < threads; ++t) block_work(x, y, n, prm, t, threads);
    return cudaSuccess;
  }

  template <typename T>
  cudaError_t units(const T *x, T *y, uint64_t units, const mydropout_params &prm) const {
    if (units == 0) return cudaSuccess;
    const uint64_t work = (units + kUnroll - 1) / kUnroll;
    const uint64_t threads =
        uint64_t{grid_blocks(work, g.threads, g.max_blocks)} * g.threads;
    if (sizeof(Index) == 4 && !fits_index32(units, threads, kUnroll))
      return cudaErrorInvalidValue;
    for (uint64_t t = 0; t < threads; ++t)
      unit_work<T, Index, kUnroll>(x, y, static_cast<Index>(units), prm, static_cast<Index>(t),
                                   static_cast<Index>(threads));
    return cudaSuccess;
  }
};

// Bits of a NaN of T: a kept NaN may come out with another payload (the README's mask
// contract); every other element must match bit for bit.
template <typename T> bool is_nan(const unsigned char *bits) {
  uint64_t b = 0;
  std::memcpy(&b, bits, sizeof(T));
  switch (sizeof(T)) {
    case 8: return (b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
    case 4: return (b & 0x7fffffffu) > 0x7f800000u;
    default: return (b & 0x7fffu) > (std::is_same<T, __half>::value ? 0x7c00u : 0x7f80u);
  }
}

template <typename T>
bool same_elements(const unsigned char *actual, const unsigned char *expected, int64_t n) {
  for (int64_t k = 0; k < n; ++k, actual += sizeof(T), expected += sizeof(T)) {
    const bool nan = is_nan<T>(expected);
    if (nan != is_nan<T>(actual) || (!nan && std::memcmp(actual, expected, sizeof(T)) != 0))
      return false;
  }
  return true;
}

template <typename T> constexpr mydropout_dtype dtype_of();
template <> constexpr mydropout_dtype dtype_of<float>() { return MYDROPOUT_F32; }
template <> constexpr mydropout_dtype dtype_of<double>() { return MYDROPOUT_F64; }
template <> constexpr mydropout_dtype dtype_of<__half>() { return MYDROPOUT_F16; }
template <> constexpr mydropout_dtype dtype_of<__nv_bfloat16>() { return MYDROPOUT_BF16; }

constexpr size_t kGuard = 64;  // bytes of poison before and after y
constexpr unsigned char kPoison = 0xA5;

// Bytes from a 64-byte boundary; x ends exactly where its allocation does, so that the
// sanitized build reports a read past it.
struct Buffer {
  unsigned char *data = nullptr;
  size_t size;
  explicit Buffer(size_t n) : size(n) {
    if (posix_memalign(reinterpret_cast<void **>(&data), 64, n ? n : 1) != 0) std::abort();
    std::memset(data, kPoison, n);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
};

struct Case {
  int64_t n;
  uint64_t first_index;
  int x_shift, y_shift;  // elements past a 64-byte boundary
  bool in_place;
  double p;
  uint64_t seed, offset;
};

int failures = 0;

void fail(const char *what, const char *type, const char *variant, const Case &c) {
  if (++failures <= 20)
    std::printf("FAIL %s: %s %s n=%lld first_index=%llu x_shift=%d y_shift=%d in_place=%d "
                "p=%g\n",
                what, type, variant, static_cast<long long>(c.n),
                static_cast<unsigned long long>(c.first_index), c.x_shift, c.y_shift,
                c.in_place, c.p);
}

bool poisoned(const unsigned char *begin, const unsigned char *end) {
  for (; begin < end; ++begin)
    if (*begin != kPoison) return false;
  return true;
}

// One case, one variant: random input bits (NaN, infinities and -0 among them), the emulated
// grid's output against the C kernel's.
template <typename T, typename Index, int kUnroll>
void check(const Case &c, const Grid &g, const char *type, const char *variant,
           std::mt19937_64 &rng) {
  const size_t bytes = static_cast<size_t>(c.n) * sizeof(T);
  const size_t xb = c.x_shift * sizeof(T), yb = kGuard + c.y_shift * sizeof(T);
  Buffer in(xb + bytes), out(yb + bytes + kGuard);
  for (size_t i = xb; i < in.size; ++i) in.data[i] = static_cast<unsigned char>(rng());
  std::vector<unsigned char> expected(bytes + 1), x_before(in.data, in.data + in.size);
  const mydropout_params prm = mydropout_params_make(c.p, c.seed, c.offset, c.first_index);
  mydropout_cpu(dtype_of<T>(), in.data + xb, expected.data(), c.n, &prm);

  unsigned char *y = c.in_place ? in.data + xb : out.data + yb;
  if (run_plan(reinterpret_cast<const T *>(in.data + xb), reinterpret_cast<T *>(y), c.n,
               Unit<T>::kElems, prm, Emulation<Index, kUnroll>{g}) != cudaSuccess)
    fail("launch", type, variant, c);
  if (!same_elements<T>(y, expected.data(), c.n)) fail("output", type, variant, c);
  if (!poisoned(in.data, in.data + xb) ||
      !(c.in_place || (poisoned(out.data, y) && poisoned(y + bytes, out.data + out.size))))
    fail("write outside y", type, variant, c);
  if (!c.in_place && !std::equal(x_before.begin(), x_before.end(), in.data))
    fail("x changed", type, variant, c);
}

template <typename T>
void check_all_variants(const Case &c, const Grid &g, const char *type, std::mt19937_64 &rng) {
  check<T, uint32_t, 1>(c, g, type, "u32x1", rng);
  check<T, uint32_t, 2>(c, g, type, "u32x2", rng);
  check<T, uint32_t, 4>(c, g, type, "u32x4", rng);
  check<T, uint64_t, 1>(c, g, type, "u64x1", rng);
}

template <typename T> void run_type(const char *type, std::mt19937_64 &rng) {
  constexpr int shifts = 16 / sizeof(T) + 1;
  const uint64_t firsts[] = {0, 1, 2, 3, 6, (1ull << 32) - 3, (1ull << 62) + 1};
  // Every small n, with every shift of x and y and every first_index phase.
  for (int64_t n = 0; n <= 40; ++n)
    for (int xs = 0; xs < shifts; ++xs)
      for (int ys = 0; ys < shifts; ++ys)
        for (uint64_t f = 0; f < 4; ++f) {
          const Case c{n, f, xs, ys, false, 0.5, rng(), rng()};
          check_all_variants<T>(c, kGrids[(n + xs) % 3], type, rng);
        }
  // Larger sizes, where the grid-stride loops go round many times, and in place.
  for (int i = 0; i < 300; ++i) {
    const int64_t n = 41 + static_cast<int64_t>(rng() % 20000);
    const Case c{n,
                 firsts[rng() % 7],
                 static_cast<int>(rng() % shifts),
                 static_cast<int>(rng() % shifts),
                 rng() % 3 == 0,
                 (rng() % 5) / 5.0,
                 rng(),
                 rng()};
    check_all_variants<T>(c, kGrids[i % 3], type, rng);
  }
}

// Channel dropout over an emulated grid against csrc/: the multipliers (the per-block kernel
// on Ones) against the C kernel on ones, then the pass (channel_work) against csrc/channels.c,
// both memory orders, in place too.
template <typename T, typename Index, int kUnroll>
void check_channels(int64_t batch, int64_t channels, int64_t spatial, bool channels_last,
                    bool in_place, const Grid &g, const char *type, std::mt19937_64 &rng) {
  using Mult = typename Scaled<T>::Mult;
  const int64_t n = batch * channels * spatial, pairs = batch * channels;
  std::vector<Mult> ones(pairs, Mult{1}), expected_mult(pairs), mult(pairs);
  const mydropout_params prm = mydropout_params_make(0.4, rng(), rng(), rng() >> 40);
  const mydropout_dtype mult_dtype = sizeof(Mult) == 8 ? MYDROPOUT_F64 : MYDROPOUT_F32;
  mydropout_cpu(mult_dtype, ones.data(), expected_mult.data(), pairs, &prm);
  Emulation<Index, kUnroll>{g}.blocks(Ones<Mult>{}, mult.data(), pairs, prm);
  if (std::memcmp(mult.data(), expected_mult.data(), pairs * sizeof(Mult)) != 0 &&
      ++failures <= 20)
    std::printf("FAIL multipliers: %s pairs=%lld first_index=%llu\n", type,
                static_cast<long long>(pairs), static_cast<unsigned long long>(prm.first_index));
  const size_t bytes = static_cast<size_t>(n) * sizeof(T);
  Buffer in(bytes), out(bytes);
  std::vector<unsigned char> expected(bytes + 1);
  for (size_t i = 0; i < bytes; ++i) in.data[i] = static_cast<unsigned char>(rng());
  mydropout_channels_cpu(dtype_of<T>(), in.data, expected.data(), mult.data(), channels, spatial,
                         channels_last, 0, channels_last ? batch * spatial : pairs);
  unsigned char *y = in_place ? in.data : out.data;
  const uint64_t work = (n + kUnroll - 1) / kUnroll;
  const uint64_t threads =
      uint64_t{grid_blocks(work, g.threads, g.max_blocks)} * g.threads;
  if (sizeof(Index) == 8 || fits_index32(n, threads, kUnroll)) {
    for (uint64_t t = 0; t < threads; ++t)
      channel_work<T, Index, kUnroll>(
          reinterpret_cast<const T *>(in.data), reinterpret_cast<T *>(y), static_cast<Index>(n),
          mult.data(), static_cast<Index>(channels), static_cast<Index>(spatial), channels_last,
          static_cast<Index>(t), static_cast<Index>(threads));
  }
  if (!same_elements<T>(y, expected.data(), n) && ++failures <= 20)
    std::printf("FAIL channels: %s N=%lld C=%lld S=%lld channels_last=%d in_place=%d unroll=%d\n",
                type, static_cast<long long>(batch), static_cast<long long>(channels),
                static_cast<long long>(spatial), channels_last, in_place, kUnroll);
}

template <typename T> void run_channels(const char *type, std::mt19937_64 &rng) {
  for (int i = 0; i < 200; ++i) {
    const int64_t batch = 1 + rng() % 5, channels = 1 + rng() % 40, spatial = 1 + rng() % 70;
    const bool channels_last = i % 2, in_place = i % 5 == 0;
    const Grid &g = kGrids[i % 3];
    check_channels<T, uint32_t, 1>(batch, channels, spatial, channels_last, in_place, g, type, rng);
    check_channels<T, uint32_t, 4>(batch, channels, spatial, channels_last, in_place, g, type, rng);
    check_channels<T, uint64_t, 4>(batch, channels, spatial, channels_last, in_place, g, type, rng);
  }
}

// DivMod<uint32_t> against 64-bit division, where k runs up to 2**32 - 1 and the divisor
// and step are large: the channel kernel's 32-bit indices go that far.
void check_divmod(std::mt19937_64 &rng) {
  for (int i = 0; i < 2000; ++i) {
    const uint64_t d = 1 + rng() % (i % 2 ? 0xffffffffull : 1000);
    const uint64_t step = 1 + rng() % (i % 3 ? 0x7fffffffull : 300000);
    const uint64_t steps = std::min<uint64_t>(50, (0xffffffffull - 1000) / step);
    const uint64_t k0 = 0xffffffffull - steps * step - rng() % 1000;
    DivMod<uint32_t> dm(static_cast<uint32_t>(k0), static_cast<uint32_t>(d),
                        static_cast<uint32_t>(step));
    for (uint64_t j = 0, k = k0; j <= steps; ++j, k += step) {
      if (dm.quot != k / d || dm.rem != k % d) {
        if (++failures <= 20)
          std::printf("FAIL DivMod: k=%llu d=%llu step=%llu\n", static_cast<unsigned long long>(k),
                      static_cast<unsigned long long>(d), static_cast<unsigned long long>(step));
        break;
      }
      if (j < steps) dm.advance();
    }
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(20261125);
  run_type<float>("float32", rng);
  run_type<double>("float64", rng);
  run_type<__half>("float16", rng);
  run_type<__nv_bfloat16>("bfloat16", rng);
  run_channels<float>("float32", rng);
  run_channels<double>("float64", rng);
  run_channels<__half>("float16", rng);
  run_channels<__nv_bfloat16>("bfloat16", rng);
  check_divmod(rng);
  if (failures) {
    std::printf("%d failures\n", failures);
    return 1;
  }
  std::printf("emulated CUDA grids equal the C kernel\n");
  return 0;
}
