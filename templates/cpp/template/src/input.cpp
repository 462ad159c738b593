// Reading points: from a text file (rows of numbers) or from the task's params (JSON).
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "kmeans.hpp"

std::vector<Point> read_points(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<Point> points;
    std::string line;
    for (std::size_t lineno = 1; std::getline(in, line); ++lineno) {
        const auto comment = line.find('#');
        if (comment != std::string::npos) line.erase(comment);
        for (auto& c : line) {
            if (c == ',') c = ' ';
        }
        std::istringstream row(line);
        Point p;
        std::string token;
        while (row >> token) {
            char* end = nullptr;
            const double v = std::strtod(token.c_str(), &end);
            if (end == token.c_str() || *end != '\0') {
                throw std::runtime_error(path + ":" + std::to_string(lineno) + ": not a number: " + token);
            }
            p.push_back(v);
        }
        if (p.empty()) continue;
        if (!points.empty() && p.size() != points.front().size()) {
            throw std::runtime_error(path + ":" + std::to_string(lineno) + ": " + std::to_string(p.size()) +
                                     " numbers, but the first row has " + std::to_string(points.front().size()));
        }
        points.push_back(std::move(p));
    }
    return points;
}

namespace {

// A small parser for exactly the params shape this algorithm takes: [[[numbers]...], k].
class Parser {
  public:
    explicit Parser(const std::string& text) : s_(text) {}

    void expect(char c) {
        skip();
        if (pos_ >= s_.size() || s_[pos_] != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }
    bool peek(char c) {
        skip();
        return pos_ < s_.size() && s_[pos_] == c;
    }
    double number() {
        skip();
        const char* start = s_.c_str() + pos_;
        char* end = nullptr;
        const double v = std::strtod(start, &end);
        if (end == start) fail("expected a number");
        pos_ += static_cast<std::size_t>(end - start);
        return v;
    }

  private:
    void skip() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("params: " + what + " at \"" + s_.substr(pos_, 20) + "\"");
    }
    const std::string& s_;
    std::size_t pos_ = 0;
};

}  // namespace

std::vector<Point> parse_params(const std::string& json, long& k) {
    Parser p(json);
    std::vector<Point> points;
    p.expect('[');
    p.expect('[');
    while (!p.peek(']')) {
        if (!points.empty()) p.expect(',');
        p.expect('[');
        Point point;
        while (!p.peek(']')) {
            if (!point.empty()) p.expect(',');
            point.push_back(p.number());
        }
        p.expect(']');
        if (!points.empty() && point.size() != points.front().size()) {
            throw std::runtime_error("params: point " + std::to_string(points.size()) + " has " +
                                     std::to_string(point.size()) + " numbers, the first has " +
                                     std::to_string(points.front().size()));
        }
        points.push_back(std::move(point));
    }
    p.expect(']');
    p.expect(',');
    k = static_cast<long>(p.number());
    p.expect(']');
    return points;
}
