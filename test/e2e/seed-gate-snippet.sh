# The CI gate stage from the original SecBot documentation (section 3.5, "Pipeline"), turned from its
# .gitlab-ci.yml lines into the script GitLab runs. Unchanged but for two things: `[gateway_url]` comes
# from SECBOT_GATEWAY_URL, and the stray backslash the PDF extraction put after `%{http_code}` is dropped.
# (`apk add curl jq` is the Alpine before_script; curl and jq must be on PATH.)
SECURITY_CHECK_URL="${SECBOT_GATEWAY_URL}/v1/security/gitlab/check"
SECURITY_CHECK_UID="GIT_LOCAL_$(echo -n "${CI_SERVER_HOST}:${CI_PROJECT_PATH}_${CI_COMMIT_SHA}" | sha256sum | head -c64)"
SECURITY_CHECK_STATUS=$(curl -k -s -w " %{http_code}" $SECURITY_CHECK_URL/${SECURITY_CHECK_UID})
SECURITY_CHECK_STATUS_JSON=$(echo $SECURITY_CHECK_STATUS | awk '{print $1}')
SECURITY_CHECK_STATUS_CODE=$(echo $SECURITY_CHECK_STATUS | awk '{print $2}')
if [ "$SECURITY_CHECK_STATUS_CODE" != "200" ]; then
  echo " Something went wrong, status: $SECURITY_CHECK_STATUS"
  exit 1
fi
SECURITY_CHECK_STATUS_JSON_STATUS_DESCRIPTION=''
SECURITY_CHECK_STATUS_JSON_STATUS=$(echo $SECURITY_CHECK_STATUS_JSON | jq -r '.status')
if [ $SECURITY_CHECK_STATUS_JSON_STATUS = "fail" ]; then
  SECURITY_CHECK_STATUS_JSON_STATUS_DESCRIPTION="--> Vulnerabilities found"
elif [ $SECURITY_CHECK_STATUS_JSON_STATUS = "success" ]; then
  SECURITY_CHECK_STATUS_JSON_STATUS_DESCRIPTION="--> No vulnerabilities found"
fi
echo " Response Code --> $SECURITY_CHECK_STATUS_CODE"
echo " Status --> $SECURITY_CHECK_STATUS_JSON_STATUS $SECURITY_CHECK_STATUS_JSON_STATUS_DESCRIPTION"
