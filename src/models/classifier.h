// src/models/classifier.h — what the three architectures share: ImageClassifier, a Module that
// remembers its architecture's name ("vgg16"), so that weight files can say which model they
// are for and load_weights can refuse a file of another one.
#pragma once

#include <string>

#include "layers/module.h"

namespace graft {

class ImageClassifier : public Module {
 public:
  ImageClassifier(std::string type_name, std::string arch) : Module(std::move(type_name)), arch_(std::move(arch)) {}
  const std::string& arch() const { return arch_; }

 private:
  std::string arch_;
};

}  // namespace graft
