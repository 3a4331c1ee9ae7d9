// src/data/text.h — helpers for what users type: option names, layer names, transform names,
// so that a typo gets a "did you mean" instead of a bare "unknown".
#pragma once

#include <string>
#include <vector>

namespace graft {

// Edit distance: insertions, deletions, substitutions and swaps of two neighbours cost 1 each.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` if it is close enough to be a likely typo (distance at most
// max(1, |word|/3), or `word` is a prefix of it), else "" — for "did you mean 'stride'?".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace graft
