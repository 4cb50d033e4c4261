// See request_errors.h.
#include "server/request_errors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"

namespace slimtrain::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RequestErrorInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RequestErrorInterceptor(std::string method) : method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // Our handlers never answer INTERNAL without saying why: this is the
      // generated code's answer to bytes it could not parse.
      if (status.error_code() == grpc::StatusCode::INTERNAL && status.error_message().empty()) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, UnparsableRequestMessage(method_)));
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
};

}  // namespace

std::string UnparsableRequestMessage(const std::string& method) {
  // "/package.Service/Method" -> "package.Service.Method".
  std::string full = absl::StrReplaceAll(method.size() > 1 ? method.substr(1) : method, {{"/", "."}});
  const google::protobuf::MethodDescriptor* m =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full);
  const std::string type = m != nullptr ? m->input_type()->full_name() : absl::StrCat("request of ", method);
  return absl::StrCat("the request is not a valid ", type,
                      ": its bytes are truncated or malformed, or a string field holds invalid UTF-8");
}

grpc::experimental::Interceptor* RequestErrorInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RequestErrorInterceptor(info->method());
}

}  // namespace slimtrain::server
