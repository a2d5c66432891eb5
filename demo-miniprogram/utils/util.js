// 页面共用的小工具 / small helpers shared by the pages.

/**
 * The user in a `/user` response: Wafer 1 answers { code: 0, data: { userInfo } },
 * Wafer 2 answers { code: 0, data: userinfo }.
 */
function userFromResponse(body) {
  if (!body || typeof body !== 'object' || body.code !== 0 || !body.data || typeof body.data !== 'object') return null;
  if (body.data.userInfo && typeof body.data.userInfo === 'object') return body.data.userInfo;
  return body.data.nickName !== undefined || body.data.openId !== undefined ? body.data : null;
}

/** 昵称 / the nickname of a user object. */
function nickName(user) {
  return (user && (user.nickName || user.nickname)) || '匿名用户';
}

/** 错误的可读描述 / a readable text for a LoginError / RequestError / anything thrown. */
function errorText(err) {
  if (!err) return '未知错误';
  if (typeof err === 'string') return err;
  var text = err.message || err.errMsg || String(err);
  return err.type ? err.type + '：' + text : text;
}

module.exports = { userFromResponse: userFromResponse, nickName: nickName, errorText: errorText };
