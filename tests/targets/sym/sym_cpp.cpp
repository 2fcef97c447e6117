// SPDX-License-Identifier: MIT
/* Symbolization target (C++): namespaces, a class, templates instantiated twice and inlined
 * members, so names demangle to ns::Worker::run(int) and inline frames nest. */
#include <cstdio>
#include <unistd.h>

namespace symns {
namespace detail {
template <typename T> struct Box {
	T v;
	inline T twice() const { return v + v; }
};

template <typename T> __attribute__((noinline)) T accumulate(const T *p, int n)
{
	Box<T> acc{ T() };
	for (int i = 0; i < n; i++) {
		Box<T> b{ p[i] };
		acc.v += b.twice();
	}
	return acc.v;
}
} // namespace detail

class Worker {
public:
	explicit Worker(int s) : seed(s) {}
	__attribute__((noinline)) int run(int n);

private:
	inline int step(int i) const { return (seed * 31 + i) % 97; }
	int seed;
};

int Worker::run(int n)
{
	int vals[16];
	double dv[16];

	for (int i = 0; i < 16; i++) {
		vals[i] = step(i + n);
		dv[i] = vals[i] * 0.5;
	}
	return detail::accumulate(vals, 16) + (int)detail::accumulate(dv, 16);
}
} // namespace symns

extern "C" int sym_cpp_entry(int n)
{
	symns::Worker w(n);
	return w.run(n);
}

int main(int argc, char **)
{
	volatile int r = sym_cpp_entry(argc);
	std::printf("ready %d\n", r & 1);
	std::fflush(stdout);
	for (;;)
		pause();
}
