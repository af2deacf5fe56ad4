/* ABI v1 support for note_compute contracts (see specs/abi.md).
 *
 * Freestanding: no libc, no imports. Provides the three required exports'
 * helpers (a bump allocator over linear memory), u32le readers/writers and a
 * small strict CBOR reader (RFC 8949: definite lengths, shortest argument
 * encodings, no tags or floats needed by contracts). Include it once per
 * contract translation unit.
 */
#ifndef NC_ABI_H
#define NC_ABI_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long usize;

#define NC_EXPORT(name) __attribute__((export_name(name)))
#define NC_ERROR(code) ((((u64)0xFFFFFFFFu) << 32) | (u64)(u32)(code))

/* ---------------------------------------------------------------- memory */

extern u8 __heap_base;
static usize nc_top;

void *memcpy(void *dst, const void *src, usize n) {
    u8 *d = (u8 *)dst;
    const u8 *s = (const u8 *)src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, usize n) {
    u8 *d = (u8 *)dst;
    while (n--) *d++ = (u8)c;
    return dst;
}

/* Bump allocation, 8-byte aligned; returns 0 when memory cannot grow. */
static inline void *nc_malloc(usize n) {
    if (nc_top == 0) nc_top = (usize)&__heap_base;
    usize start = (nc_top + 7u) & ~(usize)7u;
    if (n > 0xFFFFFFFFu - start) return 0;
    usize end = start + n;
    usize have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        usize need = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, need) == (usize)-1) return 0;
    }
    nc_top = end;
    return (void *)start;
}

NC_EXPORT("nc_abi_version") int nc_abi_version(void) { return 1; }

NC_EXPORT("nc_alloc") void *nc_alloc(u32 n) {
    /* Never return 0 for a successful allocation, even of 0 bytes. */
    return nc_malloc(n ? n : 1);
}

static inline u32 nc_get_u32(const u8 *p) {
    return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24);
}

static inline void nc_put_u32(u8 *p, u32 v) {
    p[0] = (u8)v; p[1] = (u8)(v >> 8); p[2] = (u8)(v >> 16); p[3] = (u8)(v >> 24);
}

static inline u64 nc_result(const u8 *out, u32 len) {
    return ((u64)(u32)(usize)out << 32) | (u64)len;
}

/* --------------------------------------------------------- input framing */

typedef struct {
    const u8 *args;
    u32 args_len;
    u32 n;            /* record count */
    const u8 *rec;    /* first record's u32le length prefix */
    const u8 *end;
} nc_input;

/* Parse the header and check the whole framing; 0 on success. */
static inline int nc_parse_input(nc_input *in, const u8 *p, u32 len) {
    const u8 *end = p + len;
    if (len < 8) return -1;
    in->args_len = nc_get_u32(p);
    if (in->args_len > len - 8) return -1;
    in->args = p + 4;
    const u8 *q = in->args + in->args_len;
    in->n = nc_get_u32(q);
    q += 4;
    in->rec = q;
    in->end = end;
    for (u32 i = 0; i < in->n; i++) {
        if ((usize)(end - q) < 4) return -1;
        u32 l = nc_get_u32(q);
        q += 4;
        if ((usize)(end - q) < l) return -1;
        q += l;
    }
    return q == end ? 0 : -1;
}

/* Walk records: *cur starts at in->rec; fills (data, len) and advances. */
static inline const u8 *nc_next_record(const u8 **cur, u32 *len) {
    const u8 *q = *cur;
    *len = nc_get_u32(q);
    *cur = q + 4 + *len;
    return q + 4;
}

/* ------------------------------------------------------------ CBOR reader */

typedef struct {
    const u8 *p;
    const u8 *end;
    int err;
} cbor;

enum { CB_UINT = 0, CB_NINT = 1, CB_BSTR = 2, CB_TEXT = 3, CB_ARRAY = 4, CB_MAP = 5, CB_TAG = 6, CB_SIMPLE = 7 };

static inline void cb_init(cbor *c, const u8 *p, u32 len) { c->p = p; c->end = p + len; c->err = 0; }

/* Read one head: major type and argument. Rejects indefinite lengths,
 * reserved additional info and non-shortest arguments. Returns major or -1. */
static inline int cb_head(cbor *c, u64 *arg) {
    if (c->err || c->p >= c->end) { c->err = 1; return -1; }
    u8 ib = *c->p++;
    int major = ib >> 5;
    u32 ai = ib & 31u;
    u64 v;
    if (ai < 24) {
        v = ai;
    } else if (ai <= 27) {
        u32 n = 1u << (ai - 24);
        if ((usize)(c->end - c->p) < n) { c->err = 1; return -1; }
        v = 0;
        for (u32 i = 0; i < n; i++) v = (v << 8) | c->p[i];
        c->p += n;
        /* shortest form (floats, major 7, are not used by contracts: refused below) */
        if ((ai == 24 && v < 24) || (ai == 25 && v <= 0xFF) || (ai == 26 && v <= 0xFFFF) ||
            (ai == 27 && v <= 0xFFFFFFFFu)) { c->err = 1; return -1; }
    } else {
        c->err = 1; return -1;   /* 28-30 reserved, 31 indefinite */
    }
    if (major == CB_SIMPLE && ai >= 24) { c->err = 1; return -1; }  /* floats / extended simple */
    *arg = v;
    return major;
}

/* A string (bstr or text) of the given major: pointer and length, or 0. */
static inline const u8 *cb_string(cbor *c, int want, u32 *len) {
    u64 n;
    int m = cb_head(c, &n);
    if (m != want || n > (u64)(c->end - c->p)) { c->err = 1; return 0; }
    const u8 *s = c->p;
    c->p += n;
    *len = (u32)n;
    return s;
}

/* Text string, with fast paths for the common forms (length < 256). */
static inline const u8 *cb_text(cbor *c, u32 *len) {
    if (!c->err && c->p < c->end) {
        u32 ib = *c->p;
        u32 avail = (u32)(c->end - c->p);
        u32 n, head;
        if (ib - 0x60u < 24u) {
            n = ib - 0x60u;
            head = 1;
        } else if (ib == 0x78u && avail >= 2 && c->p[1] >= 24u) {  /* shortest form only */
            n = c->p[1];
            head = 2;
        } else {
            return cb_string(c, CB_TEXT, len);
        }
        if (n <= avail - head) {
            const u8 *s = c->p + head;
            c->p = s + n;
            *len = n;
            return s;
        }
        c->err = 1;
        return 0;
    }
    return cb_string(c, CB_TEXT, len);
}

/* Skip one item, with a fast path for short scalars and strings. */
static inline void cb_skip_item(cbor *c);

static inline u64 cb_uint(cbor *c) {
    u64 v;
    if (!c->err && c->p < c->end) {
        u32 ib = *c->p;
        u32 avail = (u32)(c->end - c->p);
        if (ib < 24u) { c->p++; return ib; }
        if (ib == 0x19u && avail >= 3) {
            v = ((u32)c->p[1] << 8) | c->p[2];
            if (v > 0xFFu) { c->p += 3; return v; }
            c->err = 1; return 0;  /* not the shortest form */
        }
    }
    if (cb_head(c, &v) != CB_UINT) { c->err = 1; return 0; }
    return v;
}

/* Skip one whole item (nesting bounded by depth). */
static inline void cb_skip(cbor *c, int depth) {
    u64 n;
    if (depth > 16) { c->err = 1; return; }
    int m = cb_head(c, &n);
    switch (m) {
    case CB_UINT: case CB_NINT: return;
    case CB_BSTR: case CB_TEXT:
        if (n > (u64)(c->end - c->p)) { c->err = 1; return; }
        c->p += n; return;
    case CB_ARRAY:
        if (n > (u64)(c->end - c->p)) { c->err = 1; return; }
        for (u64 i = 0; i < n && !c->err; i++) cb_skip(c, depth + 1);
        return;
    case CB_MAP:
        if (n > (u64)(c->end - c->p)) { c->err = 1; return; }
        for (u64 i = 0; i < n && !c->err; i++) { cb_skip(c, depth + 1); cb_skip(c, depth + 1); }
        return;
    case CB_TAG:
        cb_skip(c, depth + 1); return;
    case CB_SIMPLE:
        if (n < 20 || n > 22) c->err = 1;  /* only false, true, null */
        return;
    default:
        c->err = 1; return;
    }
}

static inline void cb_skip_item(cbor *c) {
    if (!c->err && c->p < c->end) {
        u32 ib = *c->p;
        u32 major = ib >> 5, ai = ib & 31u;
        if (major <= CB_NINT && ai < 24u) { c->p++; return; }
        if ((major == CB_BSTR || major == CB_TEXT) && ai < 24u) {
            if (ai < (u32)(c->end - c->p)) { c->p += 1 + ai; return; }
            c->err = 1; return;
        }
    }
    cb_skip(c, 1);
}

/* Start of a map: its pair count, or sets err. */
static inline u32 cb_map(cbor *c) {
    u64 n;
    if (cb_head(c, &n) != CB_MAP || n > (u64)(c->end - c->p)) { c->err = 1; return 0; }
    return (u32)n;
}

static inline int nc_memeq(const u8 *a, const u8 *b, u32 n) {
    for (u32 i = 0; i < n; i++) if (a[i] != b[i]) return 0;
    return 1;
}

static inline int nc_eq(const u8 *a, u32 alen, const char *lit) {
    u32 i = 0;
    for (; lit[i]; i++) if (i >= alen || a[i] != (u8)lit[i]) return 0;
    return i == alen;
}

#endif
