// SPDX-License-Identifier: MIT
// A CPU-bound Node.js program with named hot functions, for tests/integration/test_node.sh:
// profdSineWork calls a native Math function (V8's ieee754::sin) from JIT code, profdStringWork
// goes through V8's builtins (split, reverse, join). Prints "ready" once its code has been
// compiled, then runs for argv[2] seconds (default 60).
'use strict';

function profdSineWork(n) {
	let s = 0;
	for (let i = 0; i < n; i++)
		s += Math.sin(i * 0.37) * Math.sqrt(i);
	return s;
}

function profdStringWork(n) {
	const a = [];
	for (let i = 0; i < n; i++)
		a.push(('w' + i).split('').reverse().join(''));
	return a.length;
}

function profdOuter(rounds) {
	let t = 0;
	for (let k = 0; k < rounds; k++) {
		t += profdSineWork(20000);
		t += profdStringWork(1000);
	}
	return t;
}

const end = Date.now() + (Number(process.argv[2]) || 60) * 1000;
let sink = profdOuter(50); // warm up: JIT-compiled before anyone profiles
console.log('ready');
while (Date.now() < end)
	sink += profdOuter(20);
if (sink === 42)
	console.log(sink);
