// The fuzz driver for compilers without libFuzzer (GCC): a seeded mutation loop over the
// target's corpus (tests/fuzz/corpus/<target>/), calling the same LLVMFuzzerTestOneInput
// that libFuzzer calls in the clang build. Flags, as libFuzzer's: -runs=N (inputs to run,
// corpus included), -max_total_time=S (seconds), -seed=N, -timeout=S (one input taking
// longer is a failure, default 10), -rss_limit_mb=M (address space limit, so that a memory
// blow-up is a bad_alloc, a failure; default 2048); other arguments are corpus directories. A crash (abort, signal, uncaught exception) writes the input to
// ./crash-<target>-<pid> and prints it escaped; the exit status is then non-zero.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

std::string g_current;  // the input being run, for the crash handler
const char* g_name = "fuzz";
unsigned g_timeout = 10;  // seconds one input may take (SIGALRM)

void dump_current(const char* why) {
  std::string path = std::string("crash-") + g_name + "-" + std::to_string(getpid());
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(g_current.data(), 1, g_current.size(), f);
    std::fclose(f);
  }
  std::fprintf(stderr, "fuzz driver: %s on input (%zu bytes, written to %s): %s\n", why, g_current.size(),
               path.c_str(), mi::one_line(g_current.substr(0, 2000)).c_str());
}

void on_signal(int sig) {
  dump_current(sig == SIGALRM ? "timeout (one input took too long)" : strsignal(sig));
  if (sig == SIGALRM) sig = SIGABRT;
  signal(sig, SIG_DFL);
  raise(sig);
}

void on_terminate() {
  std::string why = "uncaught exception";
  try {
    if (auto e = std::current_exception()) std::rethrow_exception(e);
  } catch (const std::exception& e) {
    why += std::string(": ") + e.what();
  } catch (...) {
  }
  dump_current(why.c_str());
  signal(SIGABRT, SIG_DFL);
  std::abort();
}

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  auto r = [&](size_t n) { return n ? size_t(rng() % n) : 0; };
  // Tokens worth inserting: bytes that mean something to the parsers under test.
  static const char* tokens[] = {"\n",  "\r\n", "\0",   ":",    "- ",   "{",    "}",   "[",     "]",    "\"",  "'",
                                 "\\",  "#",    "---",  "...",  "!!",   "&a",   "*a",  "<<",    "%",    ",",   "=",
                                 "mi.", " ",    "\t",   "null", "true", "1e99", "-1",  "18446744073709551616",
                                 "\xff", "\xef\xbb\xbf", "[::1]", "\\u0000", "\xc3\x28"};
  int n = 1 + int(r(4));
  for (int k = 0; k < n; k++) {
    size_t pos = r(s.size() + 1);
    switch (r(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[r(s.size())] ^= char(1u << r(8));
        break;
      case 1:  // a random byte
        if (!s.empty()) s[r(s.size())] = char(rng());
        break;
      case 2: {  // erase a run
        size_t len = r(std::min<size_t>(s.size() - std::min(pos, s.size()), 32) + 1);
        s.erase(std::min(pos, s.size()), len);
        break;
      }
      case 3: {  // insert a token
        const char* t = tokens[r(sizeof tokens / sizeof *tokens)];
        s.insert(pos, std::string(t, t[0] ? std::strlen(t) : 1));
        break;
      }
      case 4:  // duplicate a run
        if (!s.empty()) {
          size_t a = r(s.size()), len = r(std::min<size_t>(s.size() - a, 64) + 1);
          s.insert(pos, s.substr(a, len));
        }
        break;
      case 5:  // splice with another corpus entry
        if (!corpus.empty()) {
          const std::string& o = corpus[r(corpus.size())];
          size_t a = r(o.size() + 1);
          s = s.substr(0, pos) + o.substr(a);
        }
        break;
      case 6:  // random bytes
        for (size_t i = 0, m = 1 + r(8); i < m; i++) s.insert(s.begin() + long(std::min(pos, s.size())), char(rng()));
        break;
      default:  // truncate
        s.resize(pos);
        break;
    }
  }
  if (s.size() > 64 * 1024) s.resize(64 * 1024);
  return s;
}

void run_one(const std::string& s) {
  g_current = s;
  alarm(g_timeout);
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  alarm(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string self = std::filesystem::path(argv[0]).filename().string();
  static std::string name = self;
  g_name = name.c_str();
  long runs = -1;
  double max_time = 10;
  unsigned timeout = 10;
  long rss_mb = 2048;
  uint64_t seed = 1;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0)
      runs = std::stol(a.substr(6));
    else if (a.rfind("-max_total_time=", 0) == 0)
      max_time = std::stod(a.substr(16));
    else if (a.rfind("-timeout=", 0) == 0)
      timeout = unsigned(std::stoul(a.substr(9)));
    else if (a.rfind("-rss_limit_mb=", 0) == 0)
      rss_mb = std::stol(a.substr(14));
    else if (a.rfind("-seed=", 0) == 0)
      seed = std::stoull(a.substr(6));
    else if (a[0] == '-')
      ;  // a libFuzzer flag this driver does not have
    else
      dirs.push_back(a);
  }
  std::set_terminate(on_terminate);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) signal(sig, on_signal);
  g_timeout = timeout;
  // (not under ASan, which reserves terabytes of address space for its shadow memory)
  if (rss_mb > 0 && !kAsan) {
    rlimit rl{};
    rl.rlim_cur = rl.rlim_max = rlim_t(rss_mb) << 20;
    setrlimit(RLIMIT_AS, &rl);
  }

  std::vector<std::string> corpus;
  for (const auto& d : dirs) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(d, ec)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      corpus.push_back(ss.str());
    }
  }
  if (corpus.empty()) corpus.push_back("");
  std::sort(corpus.begin(), corpus.end());

  const auto start = std::chrono::steady_clock::now();
  long done = 0;
  for (const auto& c : corpus) run_one(c), done++;
  std::mt19937_64 rng(seed);
  while (runs < 0 || done < runs) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= max_time)
      break;
    run_one(mutate(corpus[rng() % corpus.size()], corpus, rng));
    done++;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Done %ld runs in %.0f second(s) (mutation driver, %zu corpus inputs, seed %llu)\n", done, secs,
              corpus.size(), (unsigned long long)seed);
  std::printf("stat::number_of_executed_units: %ld\n", done);
  return 0;
}
