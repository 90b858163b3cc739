// Fuzz target for the read side of the job control block (src/counter/
// job_reader.h) and the formats `memgroup stat` prints from it (src/cli/
// job_format.h). The first input byte chooses: bit 0 repairs the header
// (magic, version, sizes, slot count from the input's length) so that the
// member walk and the formats are reached; bits 1-2 the caller's member
// capacity (0, 1, 3 or 64); bit 3, with bit 0, lays out one member slot and
// a group table of as many entries as the input holds (its length cut to
// the table's end), so that the group walk is reached; bit 4 the caller's
// group capacity (all entries, or 2). The rest is the block, placed 64-byte
// aligned as a mapping is.
// Properties: the reader accepts exactly what JobValidate accepts; an
// accepted snapshot's counts are bounded (stored <= capacity, members +
// skipped <= slots), every stored member has a pid > 0 and a slot inside
// the table, in increasing slot order; the command is NUL-terminated within
// its field, well-formed UTF-8 without C0 or C1 controls; every stored
// group has a valid path (NUL-terminated, group-name characters), an entry
// index inside the table, and an owner among the stored members (slot, pid
// and start time); groups + skipped <= entries; the text, JSON and
// Prometheus outputs (of the job with its groups, and of each group alone)
// hold no control character but their newlines, the text is `key value`
// lines, and JSON strings and brackets balance; every Prometheus sample's
// value is a number (or +Inf); a group's text echoes its failcnt, stat
// figures, pressure totals and crossings (first and last counter, last
// threshold below) as read, and its age is -1 or not negative; a group's
// JSON holds a last threshold as a number only when it is not negative;
// a member's root crossings are used only when read whole, and the text
// has a member_crossings line, echoing its first counter and last
// threshold below, for each member that crossed; the job's stall total
// is not negative; the job's text echoes its hierarchical and local
// events.max as read.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/job_format.h"
#include "cli/job_status.h"
#include "counter/job_block.h"
#include "counter/job_group_table.h"
#include "counter/job_reader.h"
#include "fuzz_support.h"

namespace memgroup::fuzz {
namespace {

using internal::JobError;
using internal::JobGroupSnapshot;
using internal::JobHeader;
using internal::JobMemberSnapshot;
using internal::JobSnapshot;

// An independent well-formedness check: UTF-8 without C0/C1 controls.
bool CleanUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = 0;
    if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp <= 0x9f) {
      return false;
    }
    i += len;
  }
  return true;
}

bool NoControlsButNewlines(const std::string& s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  return true;
}

// Strings close and brackets balance (outside strings) in a JSON text.
bool JsonBalanced(const std::string& s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    if (depth < 0) return false;
  }
  return !in_string && depth == 0;
}

// Every sample line of a Prometheus text ends in a number: -?D+(.D+)? or
// +Inf (the value follows the line's last space; values have none).
bool PromValuesNumeric(const std::string& s) {
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) return false;
    const std::string line = s.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) return false;
    const std::string v = line.substr(space + 1);
    if (v == "+Inf") continue;
    size_t i = v.size() > 0 && v[0] == '-' ? 1 : 0;
    size_t digits = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
    if (digits == 0) return false;
    if (i < v.size() && v[i] == '.') {
      ++i;
      size_t frac = 0;
      while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++frac;
      if (frac == 0) return false;
    }
    if (i != v.size()) return false;
  }
  return true;
}

}  // namespace
}  // namespace memgroup::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgroup::internal;
  using namespace memgroup::fuzz;
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  size_t n = size - 1;
  const size_t alloc = (n + 63) / 64 * 64 + 64;
  auto* block = static_cast<uint8_t*>(aligned_alloc(64, alloc));
  if (n > 0) memcpy(block, data + 1, n);
  if ((flags & 1) && n >= JobBlockBytes(1)) {
    JobHeader h;
    memcpy(&h, block, sizeof(h));
    h.magic = kJobMagic;
    h.version = kJobVersion;
    h.header_bytes = kJobHeaderBytes;
    const uint64_t slots = (n - kJobHeaderBytes) / sizeof(JobMember);
    h.slot_count = static_cast<uint32_t>(slots > kJobMaxSlots ? kJobMaxSlots
                                                              : slots);
    h.total_bytes = JobBlockBytes(h.slot_count);
    h.stock_chunks = 0;  // the reader never reads the stock area
    h.stock_offset = 0;
    h.group_entries = 0;
    const uint64_t table = JobGroupOffset(1, 0) + kJobStockChunkBytes;
    if ((flags & 8) && n >= table + kJobGroupEntryBytes) {
      const uint64_t entries = (n - table) / kJobGroupEntryBytes;
      h.slot_count = 1;
      h.group_entries = static_cast<uint32_t>(
          entries > kJobMaxGroupEntries ? kJobMaxGroupEntries : entries);
      h.total_bytes = JobBlockBytes(1, 0, h.group_entries);
      n = h.total_bytes;  // the mapping ends with the table
    }
    memcpy(block, &h, sizeof(h));
  }
  static constexpr uint32_t kCaps[] = {0, 1, 3, 64};
  const uint32_t cap = kCaps[(flags >> 1) & 3];
  std::vector<JobMemberSnapshot> members(cap);
  JobSnapshot snap;
  uint32_t slots = 0, chunks = 0, entries = 0;
  const JobError valid = JobValidate(block, n, &slots, &chunks, &entries);
  const uint32_t group_cap =
      valid != JobError::kOk ? 0 : (flags & 16) ? 2 : entries;
  std::vector<JobGroupSnapshot> groups(group_cap);
  const JobError e = JobReadSnapshot(block, n, &snap, members.data(), cap,
                                     groups.data(), group_cap);
  FUZZ_CHECK(e == valid, std::string("reader ") + JobErrorString(e) +
                             ", JobValidate " + JobErrorString(valid));
  if (e == JobError::kOk) {
    FUZZ_CHECK(snap.slot_count == slots, "slot count");
    FUZZ_CHECK(snap.members_stored <= cap &&
                   snap.members_stored <= snap.members,
               "stored members");
    FUZZ_CHECK(uint64_t{snap.members} + snap.members_skipped <= slots,
               "members + skipped > slots");
    for (uint32_t i = 0; i < snap.members_stored; ++i) {
      FUZZ_CHECK(members[i].pid > 0 && members[i].slot < slots,
                 "member " + std::to_string(i));
      FUZZ_CHECK(i == 0 || members[i].slot > members[i - 1].slot,
                 "slot order");
    }
    FUZZ_CHECK(snap.group_entries == entries, "group entries");
    FUZZ_CHECK(snap.groups_stored <= group_cap &&
                   snap.groups_stored <= snap.groups,
               "stored groups");
    FUZZ_CHECK(uint64_t{snap.groups} + snap.groups_skipped <= entries,
               "groups + skipped > entries");
    for (uint32_t i = 0; i < snap.groups_stored; ++i) {
      const JobGroupSnapshot& g = groups[i];
      FUZZ_CHECK(g.entry < entries, "group entry index");
      FUZZ_CHECK(memchr(g.path, '\0', sizeof(g.path)) != nullptr &&
                     JobGroupPathValid(g.path, sizeof(g.path)),
                 "group path " + Escaped(std::string(g.path, strnlen(
                                                              g.path,
                                                              sizeof(g.path)))));
      bool owner = false;
      for (uint32_t k = 0; k < snap.members_stored; ++k) {
        owner |= members[k].slot == g.member_slot && members[k].pid == g.pid &&
                 members[k].start_ticks == g.start_ticks;
      }
      FUZZ_CHECK(owner, "group owner not a stored member");
    }
    const void* nul = memchr(snap.command, '\0', sizeof(snap.command));
    FUZZ_CHECK(nul != nullptr, "command not terminated");
    const std::string command(snap.command);
    FUZZ_CHECK(CleanUtf8(command), "command " + Escaped(command));

    memgroup::internal::cli::JobStatus st;
    st.snap = snap;
    for (uint32_t i = 0; i < snap.members_stored; ++i) {
      // The member's command as /proc would give it: sanitized text.
      char text[64];
      SanitizeText(reinterpret_cast<const char*>(block) + i * 7 % n,
                   n - i * 7 % n, text, sizeof(text));
      st.members.push_back({members[i].pid, text, members[i].charged,
                            members[i].peak});
      // The root crossings as the command collects them (job_status.cc).
      auto& ms = st.members.back();
      for (uint32_t k = 0; k < memgroup::internal::kJobCrossings; ++k) {
        ms.crossings[k] = members[i].root_crossings[k];
      }
      ms.threshold_last[0] = members[i].root_threshold_last[0];
      ms.threshold_last[1] = members[i].root_threshold_last[1];
      for (uint32_t k = 0; k < memgroup::internal::kJobRootStats; ++k) {
        ms.stat[k] = members[i].stat[k];
      }
      FUZZ_CHECK(members[i].root_whole ||
                     (members[i].root_crossings[0] == 0 &&
                      members[i].root_threshold_last[0] == -1),
                 "torn root crossings used");
    }
    FUZZ_CHECK(snap.some_ns >= 0, "negative stall total");
    FUZZ_CHECK(snap.full_ns >= 0, "negative full stall total");
    for (uint32_t i = 0; i < snap.groups_stored; ++i) {
      memgroup::internal::cli::GroupStatus gs;
      gs.pid = groups[i].pid;
      gs.path = groups[i].path;
      gs.command = st.members.empty() ? "" : st.members[0].command;
      gs.figures = groups[i].figures;
      gs.age_ms = memgroup::internal::cli::GroupAgeMs(
          gs.figures.published_ns, int64_t{1'000'000'000'000});
      FUZZ_CHECK(gs.age_ms >= -1, "age");
      st.groups.push_back(gs);
      st.groups_unpublished += gs.figures.unpublished;
    }
    const std::string t = memgroup::internal::cli::FormatStatText(st);
    FUZZ_CHECK(NoControlsButNewlines(t), "text " + Escaped(t));
    // The job's stat bytes (the members' sums as read) and full total.
    FUZZ_CHECK(t.find("\nstat.heap " + std::to_string(snap.stat[0]) + "\n") !=
                   std::string::npos,
               "stat.heap not echoed");
    FUZZ_CHECK(
        t.find("\nstat.engine_slack " +
               std::to_string(
                   snap.stat[memgroup::internal::kJobRootStats - 1]) +
               "\n") != std::string::npos,
        "stat.engine_slack not echoed");
    FUZZ_CHECK(t.find(" total=" + std::to_string(snap.full_ns / 1000) +
                      "\n") != std::string::npos,
               "pressure.full total not echoed");
    // The job's events, hierarchical and local, as read.
    const uint32_t max_event = memgroup::internal::kJobEventMax;
    FUZZ_CHECK(t.find("\nevents.max " + std::to_string(snap.events[max_event]) +
                      "\n") != std::string::npos &&
                   t.find("\nevents_local.max " +
                          std::to_string(snap.events_local[max_event]) +
                          "\n") != std::string::npos,
               "events not echoed");
    size_t start = 0;
    while (start < t.size()) {
      size_t end = t.find('\n', start);
      FUZZ_CHECK(end != std::string::npos, "text without final newline");
      const std::string line = t.substr(start, end - start);
      const size_t space = line.find(' ');
      FUZZ_CHECK(space != std::string::npos && space > 0,
                 "not key value: " + Escaped(line));
      start = end + 1;
    }
    // Each member that crossed has its line, echoing its first counter and
    // its last threshold below as read.
    for (const auto& ms : st.members) {
      if (!ms.Crossed()) continue;
      const std::string want =
          "member_crossings " + std::to_string(ms.pid) + " threshold_above=" +
          std::to_string(ms.crossings[0]);
      const std::string last =
          " threshold_below_last=" + std::to_string(ms.threshold_last[1]);
      // (Members of a hostile block may share a pid: any line of theirs.)
      bool found = false;
      for (size_t at = t.find("\n" + want + " "); at != std::string::npos && !found;
           at = t.find("\n" + want + " ", at + 1)) {
        const size_t end = t.find('\n', at + 1);
        const std::string line = t.substr(at + 1, end - at - 1);
        found = line.size() >= last.size() &&
                line.compare(line.size() - last.size(), last.size(), last) == 0;
      }
      FUZZ_CHECK(found, "text lacks " + Escaped(want) + "..." + Escaped(last) +
                            ": " + Escaped(t));
    }
    const std::string j = memgroup::internal::cli::FormatStatJson(st);
    FUZZ_CHECK(NoControlsButNewlines(j) && JsonBalanced(j), "json " + Escaped(j));
    const std::string p = memgroup::internal::cli::FormatStatPrometheus({st});
    FUZZ_CHECK(NoControlsButNewlines(p) && PromValuesNumeric(p),
               "prometheus " + Escaped(p));
    // Each group alone (`stat PID:/a/b`).
    for (const auto& gs : st.groups) {
      memgroup::internal::cli::JobStatus one;
      one.snap = snap;
      one.group_only = true;
      one.groups.push_back(gs);
      one.group = gs.Name();
      const std::string gt = memgroup::internal::cli::FormatStatText(one);
      FUZZ_CHECK(NoControlsButNewlines(gt) && gt.find("\ngroup ") !=
                                                  std::string::npos,
                 "group text " + Escaped(gt));
      const auto& f = gs.figures;
      const std::string echoed[] = {
          "\nfailcnt " + std::to_string(f.failcnt) + "\n",
          "\nstat.heap " + std::to_string(f.stat[0]) + "\n",
          "\nstat.fault_injected " +
              std::to_string(
                  f.stat[memgroup::internal::kGroupStatFaultInjected]) +
              "\n",
          "\nstat.engine_slack " +
              std::to_string(f.stat[memgroup::internal::kJobGroupStats - 1]) +
              "\n",
          " total=" + std::to_string(f.pressure_total_us[0]) + "\n",
          " total=" + std::to_string(f.pressure_total_us[1]) + "\n",
          "\ncrossings.threshold_above " + std::to_string(f.crossings[0]) +
              "\n",
          "\ncrossings.pressure_critical " +
              std::to_string(
                  f.crossings[memgroup::internal::kJobGroupCrossings - 1]) +
              "\n",
          "\ncrossings.threshold_below_last " +
              std::to_string(f.threshold_last[1]) + "\n",
          "\nage_ms " + std::to_string(gs.age_ms) + "\n"};
      for (const std::string& e : echoed) {
        FUZZ_CHECK(gt.find(e) != std::string::npos,
                   "group text lacks " + Escaped(e) + ": " + Escaped(gt));
      }
      const std::string gj = memgroup::internal::cli::FormatStatJson(one);
      FUZZ_CHECK(NoControlsButNewlines(gj) && JsonBalanced(gj),
                 "group json " + Escaped(gj));
      const std::string last =
          "\"threshold_above_last\":" +
          (f.threshold_last[0] >= 0 ? std::to_string(f.threshold_last[0])
                                    : std::string("null"));
      FUZZ_CHECK(gj.find(last) != std::string::npos,
                 "group json lacks " + Escaped(last) + ": " + Escaped(gj));
      const std::string gp =
          memgroup::internal::cli::FormatStatPrometheus({one});
      FUZZ_CHECK(NoControlsButNewlines(gp) && PromValuesNumeric(gp),
                 "group prometheus " + Escaped(gp));
    }
  }
  free(block);
  return 0;
}
