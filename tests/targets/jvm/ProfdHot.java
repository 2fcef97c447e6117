// SPDX-License-Identifier: MIT
// A CPU-bound Java program for tests/integration/test_jvm.sh: profdHotMethod takes the time.
// Prints "ready" once the method has been JIT-compiled, then runs for args[0] seconds.
public class ProfdHot {
	static double profdHotMethod(int n) {
		double s = 0;
		for (int i = 0; i < n; i++)
			s += Math.sqrt(i) * (i % 7);
		return s;
	}

	public static void main(String[] args) {
		long end = System.currentTimeMillis() + 1000L * (args.length > 0 ? Integer.parseInt(args[0]) : 60);
		double t = 0;
		for (int k = 0; k < 200; k++)
			t += profdHotMethod(100000);
		System.out.println("ready");
		while (System.currentTimeMillis() < end)
			t += profdHotMethod(100000);
		if (t == 42)
			System.out.println(t);
	}
}
