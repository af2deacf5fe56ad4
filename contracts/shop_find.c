/* shop_find: word search over a shop catalogue (ABI v1), the semantics of specs/text.md.
 *
 * Records: canonical CBOR maps with "w1", "w2", "w3" (arrays of normalized
 * words: name, brand and tags, description), "ck" (the folded category),
 * "price" and "stock" (uint); other keys are ignored. The publisher computes
 * the words with the one normalization function (examples/shop/text.py) and
 * the client normalizes the query with it, so this program only compares
 * bytes: it stays small and deterministic.
 * Args: CBOR map, keys optional: "words" (array of at most 32 texts: every
 * one must be a word of w1, w2 or w3), "category" (text, equal to "ck"),
 * "min_price" / "max_price" (inclusive), "in_stock" (0 or 1: stock > 0),
 * "sort" ("relevance" (default), "price", "-price", "name"), "limit" (uint).
 * Relevance: more query words in the name first, then more in brand/tags,
 * then lower price; "name" sorts by "nk" (the folded name) bytewise.
 * Ties keep record order (the catalogue's sort key). Output: the matching
 * record indices, sorted and limited.
 * Error codes: 1 bad args, 2 bad record, 3 out of memory, 4 bad framing.
 */
#include "nc_abi.h"

enum { SORT_REL = 0, SORT_PRICE = 1, SORT_PRICE_DESC = 2, SORT_NAME = 3 };
enum { MAX_QWORDS = 32 };

typedef struct {
    const u8 *w[MAX_QWORDS]; u32 wl[MAX_QWORDS]; u32 nw;
    const u8 *cat; u32 cat_len; int has_cat;
    u64 min_price, max_price, in_stock;
    int sort;
    u64 limit;
} query;

typedef struct {
    const u8 *list[3]; u32 list_len[3];  /* start of each word array's items, and its item count */
    const u8 *end[3];
    const u8 *cat; u32 cat_len;
    const u8 *nk; u32 nk_len;
    u64 price, stock;
} product;

static int parse_args(const u8 *p, u32 len, query *q) {
    cbor c;
    cb_init(&c, p, len);
    q->nw = 0; q->has_cat = 0;
    q->min_price = 0; q->max_price = ~(u64)0; q->in_stock = 0;
    q->sort = SORT_REL; q->limit = ~(u64)0;
    u32 n = cb_map(&c), seen = 0;
    for (u32 i = 0; i < n && !c.err; i++) {
        u32 kl, bit;
        const u8 *k = cb_string(&c, CB_TEXT, &kl);
        if (c.err) return -1;
        if (nc_eq(k, kl, "words")) {
            bit = 1;
            u64 m;
            if (cb_head(&c, &m) != CB_ARRAY || m > MAX_QWORDS) return -1;
            for (u32 j = 0; j < (u32)m; j++) {
                q->w[j] = cb_string(&c, CB_TEXT, &q->wl[j]);
                if (c.err || q->wl[j] == 0 || q->wl[j] > 64) return -1;
            }
            q->nw = (u32)m;
        } else if (nc_eq(k, kl, "category")) {
            bit = 2; q->cat = cb_string(&c, CB_TEXT, &q->cat_len); q->has_cat = 1;
        } else if (nc_eq(k, kl, "min_price")) {
            bit = 4; q->min_price = cb_uint(&c);
        } else if (nc_eq(k, kl, "max_price")) {
            bit = 8; q->max_price = cb_uint(&c);
        } else if (nc_eq(k, kl, "in_stock")) {
            bit = 16; q->in_stock = cb_uint(&c);
            if (q->in_stock > 1) return -1;
        } else if (nc_eq(k, kl, "limit")) {
            bit = 32; q->limit = cb_uint(&c);
        } else if (nc_eq(k, kl, "sort")) {
            bit = 64;
            u32 sl;
            const u8 *s = cb_string(&c, CB_TEXT, &sl);
            if (c.err) return -1;
            if (nc_eq(s, sl, "relevance")) q->sort = SORT_REL;
            else if (nc_eq(s, sl, "price")) q->sort = SORT_PRICE;
            else if (nc_eq(s, sl, "-price")) q->sort = SORT_PRICE_DESC;
            else if (nc_eq(s, sl, "name")) q->sort = SORT_NAME;
            else return -1;
        } else {
            return -1;  /* unknown key: refuse rather than silently ignore a typo */
        }
        if (seen & bit) return -1;
        seen |= bit;
    }
    if (c.err || c.p != c.end) return -1;
    return 0;
}

/* A word array: remember where its items start; check each is text. */
static void read_words(cbor *c, product *r, int f) {
    u64 m;
    if (cb_head(c, &m) != CB_ARRAY || m > (u64)(c->end - c->p)) { c->err = 1; return; }
    r->list[f] = c->p;
    r->list_len[f] = (u32)m;
    for (u32 j = 0; j < (u32)m && !c->err; j++) { u32 l; cb_text(c, &l); }
    r->end[f] = c->p;
}

static int parse_product(const u8 *p, u32 len, product *r) {
    cbor c;
    cb_init(&c, p, len);
    u32 n = cb_map(&c), seen = 0;
    for (u32 i = 0; i < n && !c.err; i++) {
        if (c.p >= c.end) return -1;
        if ((*c.p >> 5) != CB_TEXT) { cb_skip(&c, 1); cb_skip(&c, 1); continue; }
        u32 kl, bit = 0;
        const u8 *k = cb_text(&c, &kl);
        if (c.err) return -1;
        if (kl == 2 && k[0] == 'w' && k[1] >= '1' && k[1] <= '3') {
            int f = k[1] - '1';
            bit = 1u << f;
            read_words(&c, r, f);
        } else if (nc_eq(k, kl, "ck")) {
            bit = 8; r->cat = cb_text(&c, &r->cat_len);
        } else if (nc_eq(k, kl, "nk")) {
            bit = 16; r->nk = cb_text(&c, &r->nk_len);
        } else if (nc_eq(k, kl, "price")) {
            bit = 32; r->price = cb_uint(&c);
        } else if (nc_eq(k, kl, "stock")) {
            bit = 64; r->stock = cb_uint(&c);
        } else {
            cb_skip_item(&c);
        }
        if (seen & bit) return -1;
        seen |= bit;
    }
    if (c.err || c.p != c.end || seen != 127) return -1;
    return 0;
}

/* Is w one of the words of array f? (the items were checked by read_words) */
static int has_word(const product *r, int f, const u8 *w, u32 wl) {
    cbor c;
    c.p = r->list[f]; c.end = r->end[f]; c.err = 0;
    for (u32 j = 0; j < r->list_len[f]; j++) {
        u32 l;
        const u8 *s = cb_text(&c, &l);
        if (l == wl && nc_memeq(s, w, wl)) return 1;
    }
    return 0;
}

/* -1: no match; else the relevance score (name hits * 64 + brand/tag hits). */
static int score(const query *q, const product *r) {
    if (r->price < q->min_price || r->price > q->max_price) return -1;
    if (q->in_stock && r->stock == 0) return -1;
    if (q->has_cat && !(r->cat_len == q->cat_len && nc_memeq(r->cat, q->cat, q->cat_len))) return -1;
    int s = 0;
    for (u32 i = 0; i < q->nw; i++) {
        if (has_word(r, 0, q->w[i], q->wl[i])) s += 64;
        else if (has_word(r, 1, q->w[i], q->wl[i])) s += 1;
        else if (!has_word(r, 2, q->w[i], q->wl[i])) return -1;
    }
    return s;
}

typedef struct { u32 index; int score; u64 price; const u8 *nk; u32 nk_len; } hit;

/* a strictly before b? (the merge sort is stable, so ties keep index order) */
static int before(const hit *a, const hit *b, int sort) {
    if (sort == SORT_REL) {
        if (a->score != b->score) return a->score > b->score;
        return a->price < b->price;
    }
    if (sort == SORT_PRICE) return a->price < b->price;
    if (sort == SORT_PRICE_DESC) return a->price > b->price;
    u32 n = a->nk_len < b->nk_len ? a->nk_len : b->nk_len;
    for (u32 i = 0; i < n; i++)
        if (a->nk[i] != b->nk[i]) return a->nk[i] < b->nk[i];
    return a->nk_len < b->nk_len;
}

static void merge_sort(hit *h, hit *tmp, u32 n, int sort) {
    for (u32 width = 1; width < n; width *= 2) {
        for (u32 lo = 0; lo < n; lo += 2 * width) {
            u32 mid = lo + width < n ? lo + width : n;
            u32 hi = lo + 2 * width < n ? lo + 2 * width : n;
            u32 i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = before(&h[j], &h[i], sort) ? h[j++] : h[i++];
            while (i < mid) tmp[k++] = h[i++];
            while (j < hi) tmp[k++] = h[j++];
        }
        for (u32 i = 0; i < n; i++) h[i] = tmp[i];
    }
}

NC_EXPORT("nc_run") u64 nc_run(const u8 *p, u32 len) {
    nc_input in;
    if (nc_parse_input(&in, p, len)) return NC_ERROR(4);
    query q;
    if (parse_args(in.args, in.args_len, &q)) return NC_ERROR(1);
    hit *hits = (hit *)nc_malloc((usize)in.n * sizeof(hit) + 1);
    if (!hits) return NC_ERROR(3);
    u32 k = 0;
    const u8 *cur = in.rec;
    for (u32 i = 0; i < in.n; i++) {
        u32 rl;
        const u8 *rec = nc_next_record(&cur, &rl);
        product prod;
        if (parse_product(rec, rl, &prod)) return NC_ERROR(2);
        int s = score(&q, &prod);
        if (s >= 0) {
            hits[k].index = i;
            hits[k].score = s;
            hits[k].price = prod.price;
            hits[k].nk = prod.nk;
            hits[k].nk_len = prod.nk_len;
            k++;
        }
    }
    if (k > 1) {
        hit *tmp = (hit *)nc_malloc((usize)k * sizeof(hit));
        if (!tmp) return NC_ERROR(3);
        merge_sort(hits, tmp, k, q.sort);
    }
    u32 m = q.limit < (u64)k ? (u32)q.limit : k;
    u8 *out = (u8 *)nc_malloc(8 + 4 * (usize)m);
    if (!out) return NC_ERROR(3);
    nc_put_u32(out, m);
    for (u32 i = 0; i < m; i++) nc_put_u32(out + 4 + 4 * i, hits[i].index);
    nc_put_u32(out + 4 + 4 * m, 0);
    return nc_result(out, 8 + 4 * m);
}
