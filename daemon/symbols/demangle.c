// SPDX-License-Identifier: MIT
/* Demangling. C++ goes to libstdc++'s __cxa_demangle (the same demangler g++ users see). Rust
 * legacy symbols look like C++ ones (_ZN <len><ident>... E) but end in a 17h<16 hex> hash
 * component and escape punctuation as $LT$, $u20$, ..: we decode those ourselves, since the C++
 * demangler would print the hash and the escapes. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols/demangle.h"

/* libstdc++ (abi::__cxa_demangle has C linkage). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

struct out {
	char *s;
	size_t len, cap;
	bool oom;
};

static void out_putn(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		p = realloc(o->s, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->s = p;
		o->cap = cap;
	}
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	out_putn(o, s, strlen(s));
}

static bool is_rust_hash(const char *s, size_t n)
{
	if (n != 17 || s[0] != 'h')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Decodes one legacy identifier ("_$LT$impl$u20$Foo$GT$", "..": "::"). false if malformed. */
static bool rust_legacy_ident(struct out *o, const char *s, size_t n)
{
	static const struct {
		const char *code, *text;
	} escapes[] = {
		{ "SP", "@" }, { "BP", "*" }, { "RF", "&" }, { "LT", "<" }, { "GT", ">" },
		{ "LP", "(" }, { "RP", ")" }, { "C", "," },
	};
	const char *end = s + n;

	if (n >= 2 && s[0] == '_' && s[1] == '$')
		s++;
	while (s < end) {
		if (*s == '$') {
			const char *close = memchr(s + 1, '$', end - s - 1);
			size_t len;
			bool found = false;

			if (!close)
				return false;
			len = close - s - 1;
			for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
				if (strlen(escapes[i].code) == len && !memcmp(escapes[i].code, s + 1, len)) {
					out_puts(o, escapes[i].text);
					found = true;
					break;
				}
			}
			if (!found) {
				/* $uXX$: a character by its hex code point (ASCII only here) */
				char buf[8];
				unsigned long c;
				char *e;

				if (len < 2 || len > 7 || s[1] != 'u')
					return false;
				memcpy(buf, s + 2, len - 1);
				buf[len - 1] = '\0';
				c = strtoul(buf, &e, 16);
				if (*e || c == 0 || c > 0x7f)
					return false;
				buf[0] = (char)c;
				out_putn(o, buf, 1);
			}
			s = close + 1;
		} else if (*s == '.') {
			if (s + 1 < end && s[1] == '.') {
				out_puts(o, "::");
				s += 2;
			} else {
				out_puts(o, ".");
				s++;
			}
		} else {
			out_putn(o, s, 1);
			s++;
		}
	}
	return true;
}

char *demangle_rust_legacy(const char *sym)
{
	struct out o = { 0 };
	const char *p = sym;
	size_t n = strnlen(sym, DEMANGLE_MAX_INPUT + 1);
	const char *end;
	int ncomp = 0;

	if (n > DEMANGLE_MAX_INPUT)
		return NULL;
	if (!strncmp(p, "__ZN", 4))
		p += 4;
	else if (!strncmp(p, "_ZN", 3))
		p += 3;
	else if (!strncmp(p, "ZN", 2))
		p += 2;
	else
		return NULL;
	end = sym + n;
	while (p < end && *p != 'E') {
		size_t len = 0;

		if (!isdigit((unsigned char)*p))
			goto fail;
		while (p < end && isdigit((unsigned char)*p)) {
			len = len * 10 + (size_t)(*p - '0');
			if (len > DEMANGLE_MAX_INPUT)
				goto fail;
			p++;
		}
		if (len == 0 || len > (size_t)(end - p))
			goto fail;
		/* the last component before 'E' is the hash: dropped */
		if (p + len < end && p[len] == 'E' && is_rust_hash(p, len)) {
			p += len;
			break;
		}
		if (ncomp++)
			out_puts(&o, "::");
		if (!rust_legacy_ident(&o, p, len))
			goto fail;
		p += len;
	}
	/* Only a trailing hash marks the symbol as Rust; anything else is C++. */
	if (p >= end || *p != 'E' || p < sym + 17 || !is_rust_hash(p - 17, 17) || ncomp == 0 || o.oom)
		goto fail;
	return o.s;
fail:
	free(o.s);
	return NULL;
}

/* Rust v0 (RFC 2603). A recursive-descent printer over the grammar; backrefs jump to an earlier
 * position of the same string. Depth and output are bounded; anything unexpected fails the whole
 * symbol (the caller then shows it mangled). */
struct v0 {
	const char *s; /* after "_R" */
	size_t n, pos;
	int depth;
	uint64_t bound;  /* lifetimes bound by enclosing for<...> binders */
	bool bad;
	struct out *o;
};

#define V0_MAX_DEPTH 128

static void v0_path(struct v0 *p, bool in_value);
static void v0_type(struct v0 *p);

static bool v0_eat(struct v0 *p, char c)
{
	if (p->pos < p->n && p->s[p->pos] == c) {
		p->pos++;
		return true;
	}
	return false;
}

static char v0_next(struct v0 *p)
{
	if (p->pos >= p->n) {
		p->bad = true;
		return 0;
	}
	return p->s[p->pos++];
}

/* base-62 number: "_" is 0, "<digits>_" is value + 1 */
static uint64_t v0_base62(struct v0 *p)
{
	uint64_t v = 0;
	char c;

	if (v0_eat(p, '_'))
		return 0;
	while (!p->bad && (c = v0_next(p)) != '_') {
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'z')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'Z')
			d = (unsigned)(c - 'A' + 36);
		else {
			p->bad = true;
			return 0;
		}
		if (v > (UINT64_MAX - d) / 62) {
			p->bad = true;
			return 0;
		}
		v = v * 62 + d;
	}
	return v + 1;
}

static uint64_t v0_disambiguator(struct v0 *p)
{
	return v0_eat(p, 's') ? v0_base62(p) + 1 : 0;
}

/* [u] decimal [_] bytes: returns the bytes; punycode (u) is not decoded: fails */
static const char *v0_ident(struct v0 *p, size_t *ret_len)
{
	size_t len = 0;

	if (v0_eat(p, 'u')) {
		p->bad = true;
		return NULL;
	}
	if (p->pos >= p->n || !isdigit((unsigned char)p->s[p->pos])) {
		p->bad = true;
		return NULL;
	}
	if (p->s[p->pos] == '0') {
		p->pos++;
	} else {
		while (p->pos < p->n && isdigit((unsigned char)p->s[p->pos])) {
			len = len * 10 + (size_t)(p->s[p->pos++] - '0');
			if (len > p->n) {
				p->bad = true;
				return NULL;
			}
		}
	}
	v0_eat(p, '_');
	if (len > p->n - p->pos) {
		p->bad = true;
		return NULL;
	}
	*ret_len = len;
	p->pos += len;
	return p->s + p->pos - len;
}

/* Runs f at a backref's target, then resumes after the backref. */
static void v0_backref(struct v0 *p, void (*f)(struct v0 *, bool), bool arg)
{
	size_t start = p->pos - 1, saved;
	uint64_t target = v0_base62(p);

	if (p->bad || target >= start) {
		p->bad = true;
		return;
	}
	saved = p->pos;
	p->pos = (size_t)target;
	f(p, arg);
	p->pos = saved;
}

static void v0_type_adapter(struct v0 *p, bool unused)
{
	v0_type(p);
}

/* Lifetime index 0 is the erased '_; others count back from the innermost binder: 'a, 'b, .. */
static void v0_print_lifetime(struct v0 *p, uint64_t lt)
{
	char buf[32];

	if (lt == 0) {
		out_puts(p->o, "'_");
		return;
	}
	if (lt > p->bound) {
		p->bad = true;
		return;
	}
	if (p->bound - lt < 26)
		snprintf(buf, sizeof(buf), "'%c", (char)('a' + (p->bound - lt)));
	else
		snprintf(buf, sizeof(buf), "'_%llu", (unsigned long long)(p->bound - lt));
	out_puts(p->o, buf);
}

static void v0_lifetime(struct v0 *p)
{
	v0_print_lifetime(p, v0_base62(p));
}

static void v0_const(struct v0 *p, bool unused)
{
	char type;
	bool neg = false;
	uint64_t v = 0;
	int digits = 0;

	if (v0_eat(p, 'p')) {
		out_puts(p->o, "_");
		return;
	}
	if (v0_eat(p, 'B')) {
		v0_backref(p, v0_const, false);
		return;
	}
	type = v0_next(p);
	if (v0_eat(p, 'n'))
		neg = true;
	while (!p->bad && !v0_eat(p, '_')) {
		char c = v0_next(p);

		if (!isxdigit((unsigned char)c) || ++digits > 16) {
			p->bad = true;
			return;
		}
		v = v << 4 | (uint64_t)(isdigit((unsigned char)c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	if (p->bad)
		return;
	if (type == 'b') {
		out_puts(p->o, v ? "true" : "false");
	} else if (type == 'c' && v < 0x80 && v >= 0x20) {
		char buf[4] = { '\'', (char)v, '\'', 0 };

		out_puts(p->o, buf);
	} else {
		char buf[32];

		snprintf(buf, sizeof(buf), "%s%llu", neg ? "-" : "", (unsigned long long)v);
		out_puts(p->o, buf);
	}
}

static void v0_generic_arg(struct v0 *p)
{
	if (v0_eat(p, 'L'))
		v0_lifetime(p);
	else if (v0_eat(p, 'K'))
		v0_const(p, false);
	else
		v0_type(p);
}

static const char *v0_basic(char c)
{
	switch (c) {
	case 'a': return "i8";
	case 'b': return "bool";
	case 'c': return "char";
	case 'd': return "f64";
	case 'e': return "str";
	case 'f': return "f32";
	case 'h': return "u8";
	case 'i': return "isize";
	case 'j': return "usize";
	case 'l': return "i32";
	case 'm': return "u32";
	case 'n': return "i128";
	case 'o': return "u128";
	case 's': return "i16";
	case 't': return "u16";
	case 'u': return "()";
	case 'v': return "...";
	case 'x': return "i64";
	case 'y': return "u64";
	case 'z': return "!";
	case 'p': return "_";
	default: return NULL;
	}
}

/* for<'a, 'b> : brings lifetimes into scope (the caller restores p->bound after the type) */
static void v0_binder(struct v0 *p)
{
	uint64_t n;

	if (!v0_eat(p, 'G'))
		return;
	n = v0_base62(p) + 1;
	if (n > 64) {
		p->bad = true;
		return;
	}
	out_puts(p->o, "for<");
	for (uint64_t i = 0; i < n; i++) {
		if (i)
			out_puts(p->o, ", ");
		p->bound++;
		v0_print_lifetime(p, 1);
	}
	out_puts(p->o, "> ");
}

/* A trait path in dyn bounds: its generic arguments stay open so that associated type
 * bindings join them (Fn<(A,), Output = R>). Returns whether a '<' is open. */
static bool v0_path_open(struct v0 *p)
{
	if (v0_eat(p, 'B')) {
		size_t start = p->pos - 1, saved;
		uint64_t target = v0_base62(p);
		bool open;

		if (p->bad || target >= start) {
			p->bad = true;
			return false;
		}
		saved = p->pos;
		p->pos = (size_t)target;
		open = v0_path_open(p);
		p->pos = saved;
		return open;
	}
	if (v0_eat(p, 'I')) {
		int k = 0;

		v0_path(p, false);
		out_puts(p->o, "<");
		while (!p->bad && !v0_eat(p, 'E')) {
			if (k++)
				out_puts(p->o, ", ");
			v0_generic_arg(p);
		}
		return true;
	}
	v0_path(p, false);
	return false;
}

static void v0_type(struct v0 *p)
{
	const char *basic;
	char c;

	if (p->bad || ++p->depth > V0_MAX_DEPTH) {
		p->bad = true;
		return;
	}
	c = v0_next(p);
	basic = v0_basic(c);
	if (basic) {
		out_puts(p->o, basic);
	} else if (c == 'R' || c == 'Q') {
		out_puts(p->o, "&");
		if (v0_eat(p, 'L')) {
			uint64_t lt = v0_base62(p);

			if (lt) {
				v0_print_lifetime(p, lt);
				out_puts(p->o, " ");
			}
		}
		if (c == 'Q')
			out_puts(p->o, "mut ");
		v0_type(p);
	} else if (c == 'P' || c == 'O') {
		out_puts(p->o, c == 'P' ? "*const " : "*mut ");
		v0_type(p);
	} else if (c == 'A' || c == 'S') {
		out_puts(p->o, "[");
		v0_type(p);
		if (c == 'A') {
			out_puts(p->o, "; ");
			v0_const(p, false);
		}
		out_puts(p->o, "]");
	} else if (c == 'T') {
		int k = 0;

		out_puts(p->o, "(");
		while (!p->bad && !v0_eat(p, 'E')) {
			if (k++)
				out_puts(p->o, ", ");
			v0_type(p);
		}
		out_puts(p->o, k == 1 ? ",)" : ")");
	} else if (c == 'F') {
		uint64_t saved_bound = p->bound;
		int k = 0;

		v0_binder(p);
		if (v0_eat(p, 'U'))
			out_puts(p->o, "unsafe ");
		if (v0_eat(p, 'K')) {
			out_puts(p->o, "extern \"");
			if (v0_eat(p, 'C')) {
				out_puts(p->o, "C");
			} else {
				size_t len;
				const char *abi = v0_ident(p, &len);

				for (size_t i = 0; abi && i < len; i++)
					out_putn(p->o, abi[i] == '_' ? "-" : &abi[i], 1);
			}
			out_puts(p->o, "\" ");
		}
		out_puts(p->o, "fn(");
		while (!p->bad && !v0_eat(p, 'E')) {
			if (k++)
				out_puts(p->o, ", ");
			v0_type(p);
		}
		out_puts(p->o, ")");
		if (v0_eat(p, 'u')) {
			/* unit return type: not printed */
		} else {
			out_puts(p->o, " -> ");
			v0_type(p);
		}
		p->bound = saved_bound;
	} else if (c == 'D') {
		uint64_t saved_bound = p->bound;
		int k = 0;

		out_puts(p->o, "dyn ");
		v0_binder(p);
		while (!p->bad && !v0_eat(p, 'E')) {
			bool open;

			if (k++)
				out_puts(p->o, " + ");
			open = v0_path_open(p);
			while (!p->bad && v0_eat(p, 'p')) {
				size_t len;
				const char *name = v0_ident(p, &len);

				out_puts(p->o, open ? ", " : "<");
				open = true;
				if (name)
					out_putn(p->o, name, len);
				out_puts(p->o, " = ");
				v0_type(p);
			}
			if (open)
				out_puts(p->o, ">");
		}
		p->bound = saved_bound;
		if (v0_eat(p, 'L')) {
			uint64_t lt = v0_base62(p);

			if (lt) {
				out_puts(p->o, " + ");
				v0_print_lifetime(p, lt);
			}
		}
	} else if (c == 'B') {
		v0_backref(p, v0_type_adapter, false);
	} else {
		p->pos--;
		v0_path(p, false);
	}
	p->depth--;
}

static void v0_path(struct v0 *p, bool in_value)
{
	char c;

	if (p->bad || ++p->depth > V0_MAX_DEPTH) {
		p->bad = true;
		return;
	}
	c = v0_next(p);
	switch (c) {
	case 'C': {
		size_t len;
		const char *name;

		v0_disambiguator(p);
		name = v0_ident(p, &len);
		if (name)
			out_putn(p->o, name, len);
		break;
	}
	case 'N': {
		char ns = v0_next(p);
		uint64_t dis;
		size_t len = 0;
		const char *name;

		v0_path(p, in_value);
		dis = v0_disambiguator(p);
		name = v0_ident(p, &len);
		if (p->bad)
			break;
		if (ns >= 'A' && ns <= 'Z') {
			char buf[32];

			out_puts(p->o, "::{");
			out_puts(p->o, ns == 'C' ? "closure" : ns == 'S' ? "shim" : (char[]){ ns, 0 });
			if (len) {
				out_puts(p->o, ":");
				out_putn(p->o, name, len);
			}
			snprintf(buf, sizeof(buf), "#%llu}", (unsigned long long)dis);
			out_puts(p->o, buf);
		} else if (len) {
			out_puts(p->o, "::");
			out_putn(p->o, name, len);
		}
		break;
	}
	case 'M':
	case 'X':
	case 'Y': {
		struct out *saved = p->o, discard = { 0 };

		if (c != 'Y') {
			/* the impl's own path (where it is written) is not printed */
			v0_disambiguator(p);
			p->o = &discard;
			v0_path(p, false);
			p->o = saved;
			free(discard.s);
		}
		out_puts(p->o, "<");
		v0_type(p);
		if (c != 'M') {
			out_puts(p->o, " as ");
			v0_path(p, false);
		}
		out_puts(p->o, ">");
		break;
	}
	case 'I': {
		int k = 0;

		v0_path(p, in_value);
		out_puts(p->o, in_value ? "::<" : "<");
		while (!p->bad && !v0_eat(p, 'E')) {
			if (k++)
				out_puts(p->o, ", ");
			v0_generic_arg(p);
		}
		out_puts(p->o, ">");
		break;
	}
	case 'B':
		v0_backref(p, v0_path, in_value);
		break;
	default:
		p->bad = true;
		break;
	}
	p->depth--;
}

char *demangle_rust_v0(const char *sym)
{
	struct out o = { 0 };
	struct v0 p = { .o = &o };
	size_t n = strnlen(sym, DEMANGLE_MAX_INPUT + 1);

	if (n > DEMANGLE_MAX_INPUT || strncmp(sym, "_R", 2))
		return NULL;
	p.s = sym + 2;
	p.n = n - 2;
	/* an optional encoding version (decimal) precedes the path; only version 0 exists */
	if (p.n && isdigit((unsigned char)p.s[0])) {
		free(o.s);
		return NULL;
	}
	v0_path(&p, true);
	/* an instantiating crate path and a vendor suffix (".llvm.123") may follow: not printed */
	if (p.bad || o.oom || !o.s) {
		free(o.s);
		return NULL;
	}
	return o.s;
}

char *demangle(const char *sym)
{
	int status = 0;
	char *r;

	if (!sym || strnlen(sym, DEMANGLE_MAX_INPUT + 1) > DEMANGLE_MAX_INPUT)
		return NULL;
	if (!strncmp(sym, "_R", 2))
		return demangle_rust_v0(sym);
	if (strncmp(sym, "_Z", 2) && strncmp(sym, "__Z", 3))
		return NULL;
	r = demangle_rust_legacy(sym);
	if (r)
		return r;
	r = __cxa_demangle(sym, NULL, NULL, &status);
	if (status != 0) {
		free(r);
		return NULL;
	}
	return r;
}
