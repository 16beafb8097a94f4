/* trace_otf2.c: import of OTF2 archives (as written by Score-P) into a trace
 * (trace.h), through the OTF2 reader library (Debian libopen-trace-format2-dev).
 *
 * Mapping (FORMAT.md, "OTF2 import"), after the OTF2 definitions of region roles and
 * lock events (OTF2 3.0 documentation, OTF2_Definitions.h and OTF2_Events.h):
 * - each location of type CPU_THREAD with events becomes a trace thread, in order of
 *   location id; archives with more than one process are refused;
 * - Enter/Leave of a region with role PARALLEL -> region_begin / region_end (an
 *   IMPLICIT_BARRIER that ends just before the region's Leave is the region end);
 * - Enter/Leave of a region with role BARRIER or IMPLICIT_BARRIER -> barrier
 *   enter/exit;
 * - OmpAcquireLock / ThreadAcquireLock -> lock request + acquire, and the matching
 *   release events -> lock release. The request time is the Enter of the innermost
 *   open region if it is the locking construct itself (role CRITICAL, ATOMIC or
 *   WRAPPER, or a name containing "lock", e.g. Score-P's omp_set_lock region), else
 *   the acquisition time;
 * - everything else is computation. The first CPU thread (the process's initial
 *   thread) computes again from the Leave of a region (a join); the others wait
 *   until the next region begins.
 * Without OTF2 at build time (VCPUSIM_HAVE_OTF2 undefined) the import reports that. */
#include "traces/trace.h"
#include <stdio.h>
#include <string.h>

#ifndef VCPUSIM_HAVE_OTF2

int trace_have_otf2(void)
{
	return 0;
}

struct trace *trace_load_otf2(const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: this vcpusim was built without OTF2 support (install "
		 "libopen-trace-format2-dev and rebuild)", path);
	return NULL;
}

#else
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <otf2/otf2.h>

int trace_have_otf2(void)
{
	return 1;
}

#define MAX_DEPTH 256

struct region_def {
	OTF2_RegionRef id;
	OTF2_StringRef name;
	OTF2_RegionRole role;
};

struct frame {
	uint32_t region;   /* index in imp.regions, or UINT32_MAX if unknown */
	uint64_t t;
	int emitted;       /* 1: barrier enter emitted, 2: region begin emitted */
};

struct loc {
	OTF2_LocationRef id;
	OTF2_LocationType type;
	OTF2_LocationGroupRef group;
	struct trace_thread th;
	struct frame stack[MAX_DEPTH];
	int depth;
	uint32_t held[TRACE_MAX_LOCK_DEPTH];
	int nheld;
	uint64_t last;        /* time of the last event pushed */
	uint64_t last_seen;   /* time of the last OTF2 event of the location */
};

struct lockkey {
	uint32_t src, model, id;
};

struct imp {
	const char *path;
	struct trace *t;
	char **strings;
	size_t nstrings;
	struct region_def *regions;
	size_t nregions;
	struct loc *locs;
	size_t nlocs;
	struct lockkey *lkeys;
	size_t nlkeys;
	struct loc *master;   /* the first CPU thread: the process's initial thread */
	uint64_t resolution;
	int have_base;
	uint64_t base;
	int failed;
	char msg[400];
	char lib_msg[300];   /* the OTF2 library's own message, if any */
};

static void imp_fail(struct imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void imp_fail(struct imp *im, const char *fmt, ...)
{
	if (im->failed)
		return;
	im->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(im->msg, sizeof im->msg, fmt, ap);
	va_end(ap);
}

static OTF2_ErrorCode on_error(void *ud, const char *file, uint64_t line, const char *fn,
			       OTF2_ErrorCode code, const char *fmt, va_list va)
{
	struct imp *im = ud;
	if (im && !im->lib_msg[0] && fmt) {
		char m[256];
		vsnprintf(m, sizeof m, fmt, va);
		snprintf(im->lib_msg, sizeof im->lib_msg, "%s (%s)", m, OTF2_Error_GetName(code));
	}
	return code;
}

static const char *str_of(struct imp *im, OTF2_StringRef s)
{
	return s < im->nstrings && im->strings[s] ? im->strings[s] : "";
}

static struct loc *loc_of(struct imp *im, OTF2_LocationRef id)
{
	for (size_t i = 0; i < im->nlocs; i++)
		if (im->locs[i].id == id)
			return im->locs[i].type == OTF2_LOCATION_TYPE_CPU_THREAD ? &im->locs[i] : NULL;
	return NULL;
}

static struct region_def *region_of(struct imp *im, OTF2_RegionRef r, uint32_t *idx)
{
	for (size_t i = 0; i < im->nregions; i++)
		if (im->regions[i].id == r) {
			if (idx)
				*idx = (uint32_t)i;
			return &im->regions[i];
		}
	if (idx)
		*idx = UINT32_MAX;
	return NULL;
}

/* ------------------------------------------------------------ definitions */

static OTF2_CallbackCode def_string(void *ud, OTF2_StringRef self, const char *s)
{
	struct imp *im = ud;
	if (self > 100000000u) {
		imp_fail(im, "string definition %u out of range", self);
		return OTF2_CALLBACK_INTERRUPT;
	}
	if (self >= im->nstrings) {
		size_t n = (size_t)self + 1 > im->nstrings * 2 ? (size_t)self + 1 : im->nstrings * 2;
		char **p = realloc(im->strings, n * sizeof *p);
		if (!p) {
			imp_fail(im, "out of memory");
			return OTF2_CALLBACK_INTERRUPT;
		}
		memset(p + im->nstrings, 0, (n - im->nstrings) * sizeof *p);
		im->strings = p;
		im->nstrings = n;
	}
	free(im->strings[self]);
	im->strings[self] = strdup(s ? s : "");
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode def_region(void *ud, OTF2_RegionRef self, OTF2_StringRef name,
				    OTF2_StringRef canonical, OTF2_StringRef descr,
				    OTF2_RegionRole role, OTF2_Paradigm paradigm,
				    OTF2_RegionFlag flags, OTF2_StringRef file, uint32_t b,
				    uint32_t e)
{
	struct imp *im = ud;
	struct region_def *r = realloc(im->regions, (im->nregions + 1) * sizeof *r);
	if (!r) {
		imp_fail(im, "out of memory");
		return OTF2_CALLBACK_INTERRUPT;
	}
	im->regions = r;
	r[im->nregions++] = (struct region_def){ self, name, role };
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode def_location(void *ud, OTF2_LocationRef self, OTF2_StringRef name,
				      OTF2_LocationType type, uint64_t nevents,
				      OTF2_LocationGroupRef group)
{
	struct imp *im = ud;
	if (im->nlocs >= 100000) {
		imp_fail(im, "more than 100000 locations");
		return OTF2_CALLBACK_INTERRUPT;
	}
	struct loc *l = realloc(im->locs, (im->nlocs + 1) * sizeof *l);
	if (!l) {
		imp_fail(im, "out of memory");
		return OTF2_CALLBACK_INTERRUPT;
	}
	im->locs = l;
	memset(&l[im->nlocs], 0, sizeof *l);
	l[im->nlocs].id = self;
	l[im->nlocs].type = type;
	l[im->nlocs].group = group;
	im->nlocs++;
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode def_clock(void *ud, uint64_t resolution, uint64_t offset,
				   uint64_t length, uint64_t realtime)
{
	struct imp *im = ud;
	im->resolution = resolution;
	return OTF2_CALLBACK_SUCCESS;
}

/* ----------------------------------------------------------------- events */

static uint64_t ns_of(struct imp *im, OTF2_TimeStamp ts)
{
	if (!im->have_base) {    /* the global reader delivers events in time order */
		im->have_base = 1;
		im->base = ts;
	}
	if (ts < im->base)
		ts = im->base;
	double ns = (double)(ts - im->base) * 1e9 / (double)im->resolution;
	return ns > 4e18 ? (uint64_t)4e18 : (uint64_t)ns;
}

static int push(struct imp *im, struct loc *l, uint64_t t, uint32_t kind, uint32_t arg)
{
	if (l->th.n == 0 && kind != TEV_THREAD_BEGIN &&
	    trace_push(&l->th, t, TEV_THREAD_BEGIN, 0) < 0)
		goto oom;
	if (trace_push(&l->th, t, kind, arg) < 0)
		goto oom;
	l->last = t;
	return 0;
oom:
	imp_fail(im, "out of memory");
	return -1;
}

/* Common start of every event handler: location, time, first event. */
#define EVENT_PROLOGUE()                                                             \
	struct imp *im = ud;                                                             \
	if (im->failed)                                                                  \
		return OTF2_CALLBACK_INTERRUPT;                                          \
	struct loc *l = loc_of(im, location);                                            \
	uint64_t t = ns_of(im, time);                                                    \
	if (!l)                                                                          \
		return OTF2_CALLBACK_SUCCESS;                                            \
	l->last_seen = t;                                                                \
	if (l->th.n == 0 && push(im, l, t, TEV_THREAD_BEGIN, 0) < 0)                     \
		return OTF2_CALLBACK_INTERRUPT

static OTF2_CallbackCode ev_enter(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				  OTF2_AttributeList *attrs, OTF2_RegionRef region)
{
	EVENT_PROLOGUE();
	if (l->depth >= MAX_DEPTH) {
		imp_fail(im, "location %llu: regions nested deeper than %d",
			 (unsigned long long)location, MAX_DEPTH);
		return OTF2_CALLBACK_INTERRUPT;
	}
	uint32_t idx;
	struct region_def *r = region_of(im, region, &idx);
	struct frame *f = &l->stack[l->depth++];
	*f = (struct frame){ idx, t, 0 };
	if (!r || l->nheld)
		return OTF2_CALLBACK_SUCCESS;
	if (r->role == OTF2_REGION_ROLE_PARALLEL) {
		f->emitted = 2;
		if (push(im, l, t, TEV_REGION_BEGIN, 0) < 0)
			return OTF2_CALLBACK_INTERRUPT;
	} else if (r->role == OTF2_REGION_ROLE_BARRIER ||
		   r->role == OTF2_REGION_ROLE_IMPLICIT_BARRIER) {
		f->emitted = 1;
		if (push(im, l, t, TEV_BARRIER_ENTER, TBAR_OTF2) < 0)
			return OTF2_CALLBACK_INTERRUPT;
	}
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode ev_leave(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				  OTF2_AttributeList *attrs, OTF2_RegionRef region)
{
	EVENT_PROLOGUE();
	uint32_t idx;
	region_of(im, region, &idx);
	if (l->depth == 0 || l->stack[l->depth - 1].region != idx) {
		imp_fail(im, "location %llu: Leave of region %u does not match the last Enter",
			 (unsigned long long)location, region);
		return OTF2_CALLBACK_INTERRUPT;
	}
	struct frame *f = &l->stack[--l->depth];
	if (f->emitted == 1) {
		if (push(im, l, t, TEV_BARRIER_EXIT, 0) < 0)
			return OTF2_CALLBACK_INTERRUPT;
	} else if (f->emitted == 2) {
		/* An implicit barrier that ends the region is the region's end. */
		struct trace_thread *th = &l->th;
		uint64_t at = t;
		if (th->n >= 2 && th->ev[th->n - 1].kind == TEV_BARRIER_EXIT &&
		    th->ev[th->n - 2].kind == TEV_BARRIER_ENTER) {
			at = th->ev[th->n - 2].t;
			th->n -= 2;
		}
		for (int h = l->nheld - 1; h >= 0; h--)
			if (push(im, l, at, TEV_LOCK_REL, l->held[h]) < 0)
				return OTF2_CALLBACK_INTERRUPT;
		l->nheld = 0;
		if (push(im, l, at, TEV_REGION_END, 0) < 0)
			return OTF2_CALLBACK_INTERRUPT;
		/* The master continues serially after the region; workers wait for the
		 * next one (as the capture library records it). */
		if (l == im->master && push(im, l, t, TEV_JOIN, 0) < 0)
			return OTF2_CALLBACK_INTERRUPT;
	}
	return OTF2_CALLBACK_SUCCESS;
}

static int has_lock_word(const char *s)
{
	for (; *s; s++)
		if ((s[0] | 32) == 'l' && (s[1] | 32) == 'o' && (s[2] | 32) == 'c' && (s[3] | 32) == 'k')
			return 1;
	return 0;
}

static int lock_index(struct imp *im, uint32_t src, uint32_t model, uint32_t id)
{
	for (size_t i = 0; i < im->nlkeys; i++)
		if (im->lkeys[i].src == src && im->lkeys[i].model == model && im->lkeys[i].id == id)
			return (int)i;
	struct lockkey *k = realloc(im->lkeys, (im->nlkeys + 1) * sizeof *k);
	if (!k)
		return -1;
	im->lkeys = k;
	k[im->nlkeys] = (struct lockkey){ src, model, id };
	char name[64];
	snprintf(name, sizeof name, "%s_lock#%u", src ? "thread" : "omp", id);
	if (trace_add_lock(im->t, TLOCK_OTF2, name) < 0)
		return -1;
	return (int)im->nlkeys++;
}

static OTF2_CallbackCode acquire(struct imp *im, struct loc *l, uint64_t t, uint32_t src,
				 uint32_t model, uint32_t lockid)
{
	int li = lock_index(im, src, model, lockid);
	if (li < 0) {
		imp_fail(im, "out of memory");
		return OTF2_CALLBACK_INTERRUPT;
	}
	for (int h = 0; h < l->nheld; h++)
		if (l->held[h] == (uint32_t)li)
			return OTF2_CALLBACK_SUCCESS;   /* nested (omp nest lock): ignored */
	if (l->nheld == TRACE_MAX_LOCK_DEPTH)
		return OTF2_CALLBACK_SUCCESS;
	uint64_t req = t;
	if (l->depth > 0) {
		struct frame *f = &l->stack[l->depth - 1];
		if (f->region != UINT32_MAX && f->t >= l->last && f->t <= t) {
			struct region_def *r = &im->regions[f->region];
			const char *nm = str_of(im, r->name);
			if (r->role == OTF2_REGION_ROLE_CRITICAL || r->role == OTF2_REGION_ROLE_ATOMIC ||
			    r->role == OTF2_REGION_ROLE_WRAPPER || has_lock_word(nm))
				req = f->t;
		}
	}
	if (push(im, l, req, TEV_LOCK_REQ, (uint32_t)li) < 0 ||
	    push(im, l, t, TEV_LOCK_ACQ, (uint32_t)li) < 0)
		return OTF2_CALLBACK_INTERRUPT;
	l->held[l->nheld++] = (uint32_t)li;
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode release(struct imp *im, struct loc *l, uint64_t t, uint32_t src,
				 uint32_t model, uint32_t lockid)
{
	int li = lock_index(im, src, model, lockid);
	if (li < 0) {
		imp_fail(im, "out of memory");
		return OTF2_CALLBACK_INTERRUPT;
	}
	for (int h = 0; h < l->nheld; h++)
		if (l->held[h] == (uint32_t)li) {
			memmove(&l->held[h], &l->held[h + 1], (size_t)(l->nheld - h - 1) * sizeof *l->held);
			l->nheld--;
			if (push(im, l, t, TEV_LOCK_REL, (uint32_t)li) < 0)
				return OTF2_CALLBACK_INTERRUPT;
			break;
		}
	return OTF2_CALLBACK_SUCCESS;
}

static OTF2_CallbackCode ev_omp_acq(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				    OTF2_AttributeList *a, uint32_t lockid, uint32_t order)
{
	EVENT_PROLOGUE();
	return acquire(im, l, t, 0, 0, lockid);
}

static OTF2_CallbackCode ev_omp_rel(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				    OTF2_AttributeList *a, uint32_t lockid, uint32_t order)
{
	EVENT_PROLOGUE();
	return release(im, l, t, 0, 0, lockid);
}

static OTF2_CallbackCode ev_thr_acq(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				    OTF2_AttributeList *a, OTF2_Paradigm model, uint32_t lockid,
				    uint32_t order)
{
	EVENT_PROLOGUE();
	return acquire(im, l, t, 1, model, lockid);
}

static OTF2_CallbackCode ev_thr_rel(OTF2_LocationRef location, OTF2_TimeStamp time, void *ud,
				    OTF2_AttributeList *a, OTF2_Paradigm model, uint32_t lockid,
				    uint32_t order)
{
	EVENT_PROLOGUE();
	return release(im, l, t, 1, model, lockid);
}

/* ----------------------------------------------------------------- import */

static int cmp_loc(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int check(struct imp *im, OTF2_ErrorCode rc, const char *what)
{
	if (rc == OTF2_SUCCESS || im->failed)
		return im->failed ? -1 : 0;
	imp_fail(im, "%s failed: %s", what, im->lib_msg[0] ? im->lib_msg : OTF2_Error_GetDescription(rc));
	return -1;
}

struct trace *trace_load_otf2(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: cannot open the OTF2 archive: no such anchor file", path);
		return NULL;
	}
	/* An anchor file starts with a byte-order header and "OTF2" (observed in
	 * archives written by OTF2 3.0). Checking it first gives a clear message and
	 * avoids the reader's leak on its own failure path for non-OTF2 files. */
	unsigned char head[8] = { 0 };
	FILE *af = fopen(path, "rb");
	size_t got = af ? fread(head, 1, sizeof head, af) : 0;
	if (af)
		fclose(af);
	if (!af || got < 7 || memcmp(head + 2, "OTF2", 5) != 0) {
		snprintf(err, errlen, "%s: %s", path, !af ? "cannot open the OTF2 anchor file"
			 : got == 0 ? "empty file, expected an OTF2 anchor file"
				    : "not an OTF2 anchor file (no OTF2 signature at its start)");
		return NULL;
	}
	struct imp im = { .path = path, .resolution = 1000000000u };
	im.t = trace_new();
	if (!im.t) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	OTF2_ErrorCallback old = OTF2_Error_RegisterCallback(on_error, &im);
	OTF2_Reader *rd = OTF2_Reader_Open(path);
	OTF2_GlobalDefReader *gdr = NULL;
	OTF2_GlobalEvtReader *ger = NULL;
	int evt_open = 0;
	if (!rd) {
		imp_fail(&im, "cannot open the OTF2 archive%s%s", im.lib_msg[0] ? ": " : "", im.lib_msg);
		goto out;
	}
	if (check(&im, OTF2_Reader_SetSerialCollectiveCallbacks(rd), "setting up the reader") < 0)
		goto out;
	gdr = OTF2_Reader_GetGlobalDefReader(rd);
	if (!gdr) {
		imp_fail(&im, "cannot read the global definitions%s%s", im.lib_msg[0] ? ": " : "",
			 im.lib_msg);
		goto out;
	}
	OTF2_GlobalDefReaderCallbacks *dcb = OTF2_GlobalDefReaderCallbacks_New();
	if (!dcb) {
		imp_fail(&im, "out of memory");
		goto out;
	}
	OTF2_GlobalDefReaderCallbacks_SetStringCallback(dcb, def_string);
	OTF2_GlobalDefReaderCallbacks_SetRegionCallback(dcb, def_region);
	OTF2_GlobalDefReaderCallbacks_SetLocationCallback(dcb, def_location);
	OTF2_GlobalDefReaderCallbacks_SetClockPropertiesCallback(dcb, def_clock);
	OTF2_ErrorCode rc = OTF2_Reader_RegisterGlobalDefCallbacks(rd, gdr, dcb, &im);
	OTF2_GlobalDefReaderCallbacks_Delete(dcb);
	if (check(&im, rc, "registering definition callbacks") < 0)
		goto out;
	uint64_t ndefs = 0;
	if (check(&im, OTF2_Reader_ReadAllGlobalDefinitions(rd, gdr, &ndefs),
		  "reading the global definitions") < 0)
		goto out;
	if (im.resolution == 0) {
		imp_fail(&im, "the clock properties give a timer resolution of 0");
		goto out;
	}
	if (im.nlocs > 1)
		qsort(im.locs, im.nlocs, sizeof *im.locs, cmp_loc);
	size_t nthr = 0;
	OTF2_LocationGroupRef group = 0;
	for (size_t i = 0; i < im.nlocs; i++) {
		if (im.locs[i].type != OTF2_LOCATION_TYPE_CPU_THREAD)
			continue;
		if (nthr++ == 0) {
			group = im.locs[i].group;
			im.master = &im.locs[i];
		}
		else if (im.locs[i].group != group) {
			imp_fail(&im, "the archive holds more than one process (location groups %u "
				 "and %u); only single-process OpenMP or pthreads traces can be "
				 "replayed", (unsigned)group, (unsigned)im.locs[i].group);
			goto out;
		}
		if (check(&im, OTF2_Reader_SelectLocation(rd, im.locs[i].id), "selecting a location") < 0)
			goto out;
	}
	if (nthr == 0) {
		imp_fail(&im, "the archive defines no CPU thread locations");
		goto out;
	}
	int defs_open = OTF2_Reader_OpenDefFiles(rd) == OTF2_SUCCESS;
	if (check(&im, OTF2_Reader_OpenEvtFiles(rd), "opening the event files") < 0)
		goto out;
	evt_open = 1;
	for (size_t i = 0; i < im.nlocs; i++) {
		if (im.locs[i].type != OTF2_LOCATION_TYPE_CPU_THREAD)
			continue;
		if (defs_open) {   /* local definitions carry the id mappings, if any */
			OTF2_DefReader *dr = OTF2_Reader_GetDefReader(rd, im.locs[i].id);
			if (dr) {
				uint64_t n = 0;
				OTF2_Reader_ReadAllLocalDefinitions(rd, dr, &n);
				OTF2_Reader_CloseDefReader(rd, dr);
			}
		}
		if (!OTF2_Reader_GetEvtReader(rd, im.locs[i].id)) {
			imp_fail(&im, "cannot read the events of location %llu%s%s",
				 (unsigned long long)im.locs[i].id, im.lib_msg[0] ? ": " : "", im.lib_msg);
			goto out;
		}
	}
	if (defs_open)
		OTF2_Reader_CloseDefFiles(rd);
	im.lib_msg[0] = 0;
	ger = OTF2_Reader_GetGlobalEvtReader(rd);
	if (!ger) {
		imp_fail(&im, "cannot read the events%s%s", im.lib_msg[0] ? ": " : "", im.lib_msg);
		goto out;
	}
	OTF2_GlobalEvtReaderCallbacks *ecb = OTF2_GlobalEvtReaderCallbacks_New();
	if (!ecb) {
		imp_fail(&im, "out of memory");
		goto out;
	}
	OTF2_GlobalEvtReaderCallbacks_SetEnterCallback(ecb, ev_enter);
	OTF2_GlobalEvtReaderCallbacks_SetLeaveCallback(ecb, ev_leave);
	OTF2_GlobalEvtReaderCallbacks_SetOmpAcquireLockCallback(ecb, ev_omp_acq);
	OTF2_GlobalEvtReaderCallbacks_SetOmpReleaseLockCallback(ecb, ev_omp_rel);
	OTF2_GlobalEvtReaderCallbacks_SetThreadAcquireLockCallback(ecb, ev_thr_acq);
	OTF2_GlobalEvtReaderCallbacks_SetThreadReleaseLockCallback(ecb, ev_thr_rel);
	rc = OTF2_Reader_RegisterGlobalEvtCallbacks(rd, ger, ecb, &im);
	OTF2_GlobalEvtReaderCallbacks_Delete(ecb);
	if (check(&im, rc, "registering event callbacks") < 0)
		goto out;
	uint64_t nev = 0;
	rc = OTF2_Reader_ReadAllGlobalEvents(rd, ger, &nev);
	if (check(&im, rc, "reading the events") < 0)
		goto out;

	/* Close the streams: open regions end and held locks are released at the
	 * location's last event; the trace ends at the last event of all. */
	uint64_t end = 0;
	for (size_t i = 0; i < im.nlocs; i++)
		if (im.locs[i].th.n && im.locs[i].last_seen > end)
			end = im.locs[i].last_seen;
	for (size_t i = 0; i < im.nlocs && !im.failed; i++) {
		struct loc *l = &im.locs[i];
		if (l->type != OTF2_LOCATION_TYPE_CPU_THREAD || l->th.n == 0)
			continue;
		uint64_t le = l->last_seen;
		while (l->th.n && (l->th.ev[l->th.n - 1].kind == TEV_LOCK_REQ ||
				   l->th.ev[l->th.n - 1].kind == TEV_BARRIER_ENTER))
			l->th.n--;   /* a wait that never ended */
		for (int h = l->nheld - 1; h >= 0; h--)
			push(&im, l, le, TEV_LOCK_REL, l->held[h]);
		for (int d = l->depth - 1; d >= 0; d--)
			if (l->stack[d].emitted == 2)
				push(&im, l, le, TEV_REGION_END, 0);
		push(&im, l, le, TEV_THREAD_END, 0);
		int ti = trace_add_thread(im.t);
		if (ti < 0) {
			imp_fail(&im, "out of memory or more than %d threads", TRACE_MAX_THREADS);
			break;
		}
		im.t->threads[ti] = l->th;
		memset(&l->th, 0, sizeof l->th);
	}
	if (im.failed)
		goto out;
	if (im.t->nthreads == 0) {
		imp_fail(&im, "the archive holds no events of CPU threads");
		goto out;
	}
	im.t->duration_ns = end;
	trace_set_str(&im.t->format, "otf2");
	trace_set_str(&im.t->clock, "OTF2 timer");
	trace_set_str(&im.t->program, path);
	trace_set_str(&im.t->host, "");
	char why[400];
	if (trace_validate(im.t, why, sizeof why) < 0)
		imp_fail(&im, "the events do not form a replayable trace: %s", why);
out:
	if (ger)
		OTF2_Reader_CloseGlobalEvtReader(rd, ger);
	if (evt_open)
		OTF2_Reader_CloseEvtFiles(rd);
	if (gdr)
		OTF2_Reader_CloseGlobalDefReader(rd, gdr);
	if (rd)
		OTF2_Reader_Close(rd);
	OTF2_Error_RegisterCallback(old, NULL);
	for (size_t i = 0; i < im.nstrings; i++)
		free(im.strings[i]);
	free(im.strings);
	free(im.regions);
	for (size_t i = 0; i < im.nlocs; i++)
		free(im.locs[i].th.ev);
	free(im.locs);
	free(im.lkeys);
	if (im.failed) {
		snprintf(err, errlen, "%s: %s", path, im.msg);
		trace_free(im.t);
		return NULL;
	}
	return im.t;
}
#endif
