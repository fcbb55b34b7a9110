#include "store/delta_batch.h"

#include <limits>
#include <new>

#include "store/varint.h"

namespace aatune::store::internal {
namespace {

// The blob: this format byte, then per delta the varints slice id, group id, host length, the
// host's bytes, count, a flags varint (kHasFirst, kHasLast) and the times it flags, zig-zag.
constexpr char kDeltaFormat = 1;
constexpr uint64_t kHasFirst = 1;
constexpr uint64_t kHasLast = 2;

bool get_time(std::string_view& in, uint64_t flags, uint64_t bit, std::optional<int64_t>& v) {
  v.reset();
  if ((flags & bit) == 0) return true;
  uint64_t raw = 0;
  if (!get_varint(in, raw)) return false;
  v = unzigzag(raw);
  return true;
}

bool fits_int64(uint64_t v) {
  return v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

// ---- aatune_deltas(BLOB): an eponymous-only virtual table -------------------------------------

enum Column { kSliceId, kGroupId, kHost, kCount, kFirstSeen, kLastSeen, kBlob };

struct Cursor {
  sqlite3_vtab_cursor base{};  // first: SQLite's pointer to the cursor is a pointer to this
  std::string blob;            // a copy: the argument's value does not outlive xFilter
  DeltaBatchReader reader;
  GroupDelta row;
  sqlite3_int64 rowid = 0;
  bool eof = true;
};

int x_connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  const int rc = sqlite3_declare_vtab(
      db,
      "CREATE TABLE x(slice_id INTEGER, group_id INTEGER, host TEXT, count INTEGER, "
      "first_seen INTEGER, last_seen INTEGER, deltas HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  auto* vtab = new (std::nothrow) sqlite3_vtab{};
  if (vtab == nullptr) return SQLITE_NOMEM;
  *out = vtab;
  return SQLITE_OK;
}

int x_disconnect(sqlite3_vtab* vtab) {
  delete vtab;
  return SQLITE_OK;
}

// The blob argument is required: without it there is nothing to expand.
int x_best_index(sqlite3_vtab*, sqlite3_index_info* info) {
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn == kBlob && c.op == SQLITE_INDEX_CONSTRAINT_EQ) {
      if (c.usable == 0) return SQLITE_CONSTRAINT;
      info->aConstraintUsage[i].argvIndex = 1;
      info->aConstraintUsage[i].omit = 1;
      info->estimatedCost = 10000;
      info->estimatedRows = 10000;
      return SQLITE_OK;
    }
  }
  return SQLITE_CONSTRAINT;
}

int x_open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* cursor = new (std::nothrow) Cursor{};
  if (cursor == nullptr) return SQLITE_NOMEM;
  *out = &cursor->base;
  return SQLITE_OK;
}

Cursor& cursor_of(sqlite3_vtab_cursor* c) {
  return *reinterpret_cast<Cursor*>(c);
}

int x_close(sqlite3_vtab_cursor* c) {
  delete &cursor_of(c);
  return SQLITE_OK;
}

int x_next(sqlite3_vtab_cursor* c) {
  Cursor& cur = cursor_of(c);
  const int got = cur.reader.next(cur.row);
  if (got < 0) return SQLITE_CORRUPT;
  cur.eof = got == 0;
  ++cur.rowid;
  return SQLITE_OK;
}

int x_filter(sqlite3_vtab_cursor* c, int, const char*, int argc, sqlite3_value** argv) {
  Cursor& cur = cursor_of(c);
  cur.eof = true;
  cur.rowid = 0;
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) return SQLITE_OK;
  const auto* p = static_cast<const char*>(sqlite3_value_blob(argv[0]));
  cur.blob.assign(p ? p : "", static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  if (!cur.reader.open(cur.blob)) return SQLITE_CORRUPT;
  return x_next(c);
}

int x_eof(sqlite3_vtab_cursor* c) {
  return cursor_of(c).eof ? 1 : 0;
}

void result_optional(sqlite3_context* ctx, const std::optional<int64_t>& v) {
  if (v) {
    sqlite3_result_int64(ctx, *v);
  } else {
    sqlite3_result_null(ctx);
  }
}

int x_column(sqlite3_vtab_cursor* c, sqlite3_context* ctx, int column) {
  const GroupDelta& d = cursor_of(c).row;
  switch (column) {
    case kSliceId:
      sqlite3_result_int64(ctx, d.slice_id);
      break;
    case kGroupId:
      sqlite3_result_int64(ctx, d.group_id);
      break;
    case kHost:
      sqlite3_result_text64(ctx, d.host.data(), d.host.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case kCount:
      sqlite3_result_int64(ctx, d.count);
      break;
    case kFirstSeen:
      result_optional(ctx, d.first_seen);
      break;
    case kLastSeen:
      result_optional(ctx, d.last_seen);
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
  return SQLITE_OK;
}

int x_rowid(sqlite3_vtab_cursor* c, sqlite3_int64* rowid) {
  *rowid = cursor_of(c).rowid;
  return SQLITE_OK;
}

sqlite3_module make_module() {
  sqlite3_module m{};
  m.iVersion = 0;
  m.xCreate = nullptr;  // eponymous-only: usable as aatune_deltas(...), never CREATE VIRTUAL TABLE
  m.xConnect = x_connect;
  m.xBestIndex = x_best_index;
  m.xDisconnect = x_disconnect;
  m.xDestroy = x_disconnect;
  m.xOpen = x_open;
  m.xClose = x_close;
  m.xFilter = x_filter;
  m.xNext = x_next;
  m.xEof = x_eof;
  m.xColumn = x_column;
  m.xRowid = x_rowid;
  return m;
}

const sqlite3_module kModule = make_module();

}  // namespace

void begin_delta_batch(std::string& out) {
  out.clear();
  out += kDeltaFormat;
}

void put_delta(std::string& out, const GroupDelta& d) {
  put_varint(out, static_cast<uint64_t>(d.slice_id));
  put_varint(out, static_cast<uint64_t>(d.group_id));
  put_varint(out, d.host.size());
  out.append(d.host);
  put_varint(out, static_cast<uint64_t>(d.count));
  put_varint(out, (d.first_seen ? kHasFirst : 0) | (d.last_seen ? kHasLast : 0));
  if (d.first_seen) put_varint(out, zigzag(*d.first_seen));
  if (d.last_seen) put_varint(out, zigzag(*d.last_seen));
}

bool DeltaBatchReader::open(std::string_view blob) {
  rest_ = {};
  if (blob.empty() || blob.front() != kDeltaFormat) return false;
  rest_ = blob.substr(1);
  return true;
}

int DeltaBatchReader::next(GroupDelta& d) {
  if (rest_.empty()) return 0;
  uint64_t slice = 0;
  uint64_t group = 0;
  uint64_t host_length = 0;
  uint64_t count = 0;
  if (!get_varint(rest_, slice) || !get_varint(rest_, group) || !get_varint(rest_, host_length) ||
      host_length > rest_.size()) {
    return -1;
  }
  d.host = rest_.substr(0, host_length);
  rest_.remove_prefix(host_length);
  uint64_t flags = 0;
  if (!get_varint(rest_, count) || !get_varint(rest_, flags) || flags > (kHasFirst | kHasLast) ||
      !get_time(rest_, flags, kHasFirst, d.first_seen) ||
      !get_time(rest_, flags, kHasLast, d.last_seen) || !fits_int64(slice) || !fits_int64(group) ||
      !fits_int64(count)) {
    return -1;
  }
  d.slice_id = static_cast<int64_t>(slice);
  d.group_id = static_cast<int64_t>(group);
  d.count = static_cast<int64_t>(count);
  return 1;
}

int register_delta_batch_function(sqlite3* db) {
  return sqlite3_create_module_v2(db, "aatune_deltas", &kModule, nullptr, nullptr);
}

}  // namespace aatune::store::internal
