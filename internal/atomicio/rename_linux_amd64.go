package atomicio

const sysRenameat2 = 316
